// The before-dot hook against aiosmtpd (tests/peers/smtp_capture.py): the final dot is
// written only when the hook says so; without it the server keeps nothing.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

#include "smtp/client.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_before_dot_test {

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

TEST_CASE("before_dot: false drops the transaction (no dot, transient, nothing kept); true "
          "sends it, once the body is written") {
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

  int calls = 0;
  before_dot_fn refuse = [&]() -> boost::asio::awaitable<bool> {
    ++calls;
    co_return false;
  };
  auto o = test::run(ioc, c.send(env, message("refused"), &refuse));
  CHECK(calls == 1);
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.error.find("not recorded") != std::string::npos);

  before_dot_fn accept = [&]() -> boost::asio::awaitable<bool> {
    ++calls;
    co_return true;
  };
  o = test::run(ioc, c.send(env, message("accepted"), &accept));
  CHECK(calls == 2);
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error);
  CHECK(o.last.code == 250);
  // Only the second transaction reached the maildir, the first one was dropped by the server.
  CHECK(count_files(dir / "maildir") == 1);
  std::string kept;
  for (const auto& e : fs::directory_iterator(dir / "maildir" / "new"))
    kept = test::read_file(e.path());
  CHECK(kept.find("X-Iaposte-Request-Id: accepted") != std::string::npos);
  CHECK(kept.find("\r\n.point en debut de ligne") != std::string::npos);
  c.close_idle();
}

} // namespace test_unit_smtp_before_dot_test
