// The dot gate against aiosmtpd (tests/peers/smtp_capture.py): `start` runs as each
// transaction begins, `confirm` once the body is written; the final dot is written only when
// `confirm` says so; without it the server keeps nothing.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

#include "smtp/client.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_dot_gate_test {

using namespace iaposte::smtp;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace test = iaposte::smtp::test;

namespace {

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  for (const char* sub : {"new", "cur"})
    if (fs::exists(dir / sub))
      for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir / sub))
        ++n;
  return n;
}

std::string message(const std::string& id) {
  return "From: a@iaposte.test\r\nTo: b@exemple.fr\r\nSubject: t\r\nX-Iaposte-Request-Id: " + id +
         "\r\n\r\nBonjour.\r\n.point en debut de ligne\r\n";
}

} // namespace

TEST_CASE("dot gate: start runs as the transaction begins, confirm before the dot; false "
          "drops the transaction (no dot, transient, nothing kept); true sends it; a transaction "
          "refused at RCPT ran start only") {
  test::temp_dir dir;
  const auto port = test::free_port();
  test::child_process peer(
      {"/usr/bin/python3",
       (fs::path(IAPOSTE_TEST_DATA).parent_path().parent_path() / "tests/peers/smtp_capture.py")
           .string(),
       "--listen", "127.0.0.1:" + std::to_string(port), "--maildir", (dir / "maildir").string()},
      dir / "peer.log");
  peer.wait_for_port(port);

  boost::asio::io_context ioc;
  relay_config cfg;
  cfg.port = port;
  client c(ioc.get_executor(), cfg);
  const envelope env{"a@iaposte.test", {"b@exemple.fr"}};

  // Each call is logged in order: "start", then "confirm" (with whether start ran first).
  std::vector<std::string> calls;
  bool answer = false;
  dot_gate gate;
  gate.start = [&] { calls.push_back("start"); };
  gate.confirm = [&]() -> boost::asio::awaitable<bool> {
    calls.push_back("confirm");
    co_return answer;
  };

  auto o = test::run(ioc, c.send(env, message("refused"), &gate));
  CHECK(calls == std::vector<std::string>{"start", "confirm"});
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.error.find("not recorded") != std::string::npos);

  calls.clear();
  answer = true;
  o = test::run(ioc, c.send(env, message("accepted"), &gate));
  CHECK(calls == std::vector<std::string>{"start", "confirm"});
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error);
  CHECK(o.last.code == 250);

  // The capture answers RCPT for bounce-* with 550 5.1.1: no body, so no confirm.
  calls.clear();
  o = test::run(
      ioc, c.send({"a@iaposte.test", {"bounce-x@exemple.fr"}}, message("rcpt-refused"), &gate));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(calls == std::vector<std::string>{"start"});

  // Only the second transaction reached the maildir, the first one was dropped by the server.
  CHECK(count_files(dir / "maildir") == 1);
  std::string kept;
  for (const auto& e : fs::directory_iterator(dir / "maildir" / "new"))
    kept = test::read_file(e.path());
  CHECK(kept.find("X-Iaposte-Request-Id: accepted") != std::string::npos);
  CHECK(kept.find("\r\n.point en debut de ligne") != std::string::npos);
  c.close_idle();
}

} // namespace test_unit_smtp_dot_gate_test
