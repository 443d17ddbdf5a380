// The SMTP client against tests/peers/hostile_smtp.py, a real socket peer that stalls, drips,
// floods, hangs up and breaks STARTTLS at each phase. Complements hostile_test.cpp (in-process
// peer: greeting stall, 421 at MAIL, close mid-body, 1 MiB greeting, endless continuation,
// byte trickle, 2xx for 354, mixed RCPT outcomes); no case of it is repeated here.
#include <doctest/doctest.h>

#include <sstream>

#include <sys/resource.h>

#include <boost/asio/io_context.hpp>

#include "pki.hpp"
#include "smtp/client.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_hostile_peer_test {

using namespace iaposte::smtp;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace test = iaposte::smtp::test;

namespace {

using clock_type = std::chrono::steady_clock;

struct certificates {
  test::pki p;
  fs::path ca, cert, key;
  certificates() {
    ca = p.make_ca("ca", "iaposte hostile CA");
    cert = p.make_leaf("server", "hostile.test", "IP:127.0.0.1", "ca");
    key = p.key("server");
  }
};

const certificates& certs() {
  static certificates c;
  return c;
}

// hostile_smtp.py on a free port, with Debian's python3.
class hostile_peer {
public:
  hostile_peer(const std::string& mode, bool tls = false, double delay = 0.005)
      : port_(test::free_port()) {
    std::vector<std::string> argv{"/usr/bin/python3",
                                  fs::path(IAPOSTE_TEST_DATA).parent_path() /
                                      "peers/hostile_smtp.py",
                                  "--listen",
                                  "127.0.0.1:" + std::to_string(port_),
                                  "--log",
                                  (dir_ / "events.log").string(),
                                  "--mode",
                                  mode,
                                  "--delay",
                                  std::to_string(delay)};
    if (tls) argv.insert(argv.end(), {"--tls", certs().cert.string(), certs().key.string()});
    proc_.emplace(argv, dir_ / "peer.log");
    proc_->wait_for_port(port_);
  }
  std::uint16_t port() const { return port_; }
  // "CONN EVENT" lines: "2 connect", "2 MAIL FROM:<a@example.com>", "2 tls", "2 closed"
  // (connection 1 is usually wait_for_port's probe).
  std::string events() const { return test::read_file(dir_ / "events.log"); }
  // The connections on which `event` happened, in order.
  std::vector<int> saw(const std::string& event) const {
    std::vector<int> out;
    std::istringstream in(events());
    for (std::string line; std::getline(in, line);) {
      auto sp = line.find(' ');
      if (sp != std::string::npos && line.substr(sp + 1) == event)
        out.push_back(std::stoi(line.substr(0, sp)));
    }
    return out;
  }
  std::string log() const { return proc_->log(); }

private:
  test::temp_dir dir_;
  std::uint16_t port_;
  std::optional<test::child_process> proc_;
};

constexpr auto command_timeout = 400ms;
constexpr auto data_timeout = 900ms; // distinct, so a test shows which deadline fired

relay_config config(const hostile_peer& p, tls_mode mode = tls_mode::none) {
  relay_config c;
  c.host = "127.0.0.1";
  c.port = p.port();
  c.helo_name = "client.test";
  c.tls = mode;
  c.ca_file = certs().ca.string();
  c.connect_timeout = command_timeout;
  c.command_timeout = command_timeout;
  c.data_timeout = data_timeout;
  return c;
}

const envelope env{"a@example.com", {"b@example.net"}};
const std::string message = "Subject: hostile\r\n\r\n.leading dot\r\nbody\r\n";
// What the peer logs when it got `message` whole (its size once the dot-stuffing is undone).
const std::string received = "message " + std::to_string(message.size()) + " bytes";

struct timed {
  outcome o;
  clock_type::duration elapsed;
};

timed send_once(const relay_config& cfg, const std::string& body = message) {
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), cfg);
  auto t0 = clock_type::now();
  auto o = test::run(ioc, c.send(env, body));
  timed t{std::move(o), clock_type::now() - t0};
  CHECK(c.connections_open() == (t.o.kind == outcome_kind::sent ? 1u : 0u));
  return t;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("hostile peer: a server silent at any step after the greeting is cut by that step's "
          "deadline, as transient") {
  struct step {
    const char* mode;
    const char* error;
    std::chrono::milliseconds limit;
  };
  const step steps[] = {
      {"stall:ehlo", "timeout waiting for reply to EHLO", command_timeout},
      {"stall:mail", "timeout waiting for reply to MAIL", command_timeout},
      {"stall:rcpt", "timeout waiting for reply to RCPT", command_timeout},
      {"stall:data", "timeout waiting for reply to DATA", command_timeout},
      {"stall:dot", "timeout waiting for reply to end of data", data_timeout},
  };
  for (const auto& s : steps) {
    CAPTURE(s.mode);
    hostile_peer p(s.mode);
    auto t = send_once(config(p));
    CHECK(t.o.kind == outcome_kind::transient);
    CHECK(t.o.last.code == 0);
    CHECK(t.o.error == s.error);
    CHECK(t.elapsed >= s.limit);
    CHECK(t.elapsed < s.limit + 1000ms);
  }
}

TEST_CASE("hostile peer: an endless reply dripped one byte at a time does not keep the "
          "connection alive: the step's deadline fires") {
  hostile_peer p("drip-forever:ehlo", false, 0.01);
  auto t = send_once(config(p));
  CHECK(t.o.kind == outcome_kind::transient);
  CHECK(t.o.error == "timeout waiting for reply to EHLO");
  CHECK(t.elapsed < command_timeout + 1000ms);
}

TEST_CASE("hostile peer: a valid reply dripped byte by byte within the deadline is read") {
  hostile_peer p("drip:dot", false, 0.01); // "250 2.0.0 queued as 1\r\n": about 0.25 s
  auto cfg = config(p);
  cfg.data_timeout = 3s;
  auto t = send_once(cfg);
  CHECK_MESSAGE(t.o.kind == outcome_kind::sent, t.o.error);
  CHECK(t.o.last.enhanced == "2.0.0");
  CHECK(t.o.last.text() == "2.0.0 queued as 1");
}

TEST_CASE("hostile peer: every reply split across reads (inside codes, CRLFs and the STARTTLS "
          "keyword of a multi-line EHLO) is read, and STARTTLS is seen and used") {
  hostile_peer p("split", true, 0.002);
  auto cfg = config(p, tls_mode::required);
  cfg.command_timeout = cfg.data_timeout = 3s;
  auto t = send_once(cfg);
  REQUIRE_MESSAGE(t.o.kind == outcome_kind::sent, t.o.error, "\n", p.events(), p.log());
  CHECK(t.o.last.text() == "2.0.0 queued as 1");
  CHECK(p.saw("STARTTLS").size() == 1);
  CHECK_MESSAGE(p.saw("tls").size() == 1, p.events());
  CHECK(p.saw(received).size() == 1);
}

TEST_CASE("hostile peer: a 64 MiB reply line is refused after 4096 bytes, quickly, without "
          "buffering it") {
  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  for (const char* mode : {"huge:mail", "huge:dot"}) {
    CAPTURE(mode);
    hostile_peer p(mode);
    auto t = send_once(config(p));
    CHECK(t.o.kind == outcome_kind::transient);
    CHECK_MESSAGE(contains(t.o.error, "reply line longer than 4096 bytes"), t.o.error);
    CHECK(contains(t.o.error,
                   std::string(mode) == "huge:mail" ? "reply to MAIL" : "reply to end of data"));
    CHECK(t.elapsed < 2s);
  }
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  // ru_maxrss is in KiB: the peak of this process grew by far less than the 64 MiB offered.
  CHECK(after.ru_maxrss - before.ru_maxrss < 16 * 1024);
}

TEST_CASE("hostile peer: a server that hangs up after the final dot, before its reply, is "
          "transient (the message may have been taken: the one duplicate window)") {
  hostile_peer p("close:dot");
  auto t = send_once(config(p));
  CHECK(t.o.kind == outcome_kind::transient);
  CHECK(t.o.last.code == 0);
  CHECK(t.o.error == "connection closed by server while waiting for reply to end of data");
  CHECK(p.saw(received).size() == 1);
}

TEST_CASE("hostile peer: a server that hangs up instead of answering RCPT is transient") {
  hostile_peer p("close:rcpt");
  auto t = send_once(config(p));
  CHECK(t.o.kind == outcome_kind::transient);
  CHECK(t.o.error == "connection closed by server while waiting for reply to RCPT");
}

TEST_CASE("hostile peer: 421 at any step is transient, carries the 421 and drops the "
          "connection") {
  for (const char* step : {"greeting", "ehlo", "mail", "rcpt", "data", "dot"}) {
    CAPTURE(step);
    hostile_peer p(std::string("421:") + step);
    auto t = send_once(config(p));
    CHECK(t.o.kind == outcome_kind::transient);
    CHECK(t.o.last.code == 421);
    CHECK(t.o.last.enhanced == "4.3.2");
    CHECK(contains(t.o.error, std::string("closing at ") + step));
  }
}

TEST_CASE("hostile peer: 421 at STARTTLS is transient, never a fall back to plain text") {
  for (auto mode : {tls_mode::required, tls_mode::opportunistic}) {
    CAPTURE(static_cast<int>(mode));
    hostile_peer p("421:starttls", true);
    auto t = send_once(config(p, mode));
    CHECK(t.o.kind == outcome_kind::transient);
    CHECK(t.o.last.code == 421);
    CHECK_FALSE(contains(p.events(), "MAIL"));
  }
}

TEST_CASE("hostile peer: a pooled connection answering 421 to RSET is replaced, and the "
          "message goes out on a fresh connection") {
  hostile_peer p("421:rset");
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config(p));
  auto first = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(first.kind == outcome_kind::sent, first.error);
  auto second = test::run(ioc, c.send(env, message));
  CHECK_MESSAGE(second.kind == outcome_kind::sent, second.error, "\n", p.events());
  CHECK(second.last.text() == "2.0.0 queued as 2");
  CHECK(c.connections_opened() == 2);
  // One message on each connection, the RSET on the first one.
  auto on = p.saw(received);
  REQUIRE_MESSAGE(on.size() == 2, p.events());
  CHECK(on[0] != on[1]);
  CHECK(p.saw("RSET") == std::vector<int>{on[0]});
}

TEST_CASE("hostile peer: STARTTLS answered 220 and then garbage fails the handshake, as "
          "transient, under required and opportunistic alike, and nothing is sent") {
  for (auto mode : {tls_mode::required, tls_mode::opportunistic}) {
    CAPTURE(static_cast<int>(mode));
    hostile_peer p("starttls-garbage", true);
    auto t = send_once(config(p, mode));
    CHECK(t.o.kind == outcome_kind::transient);
    CHECK_MESSAGE(t.o.error.rfind("TLS handshake: ", 0) == 0, t.o.error);
    CHECK_FALSE(contains(p.events(), "MAIL"));
  }
}

TEST_CASE("hostile peer: STARTTLS answered 220 and then a hang-up is transient") {
  hostile_peer p("starttls-close", true);
  auto t = send_once(config(p, tls_mode::required));
  CHECK(t.o.kind == outcome_kind::transient);
  CHECK_MESSAGE(t.o.error.rfind("TLS handshake: ", 0) == 0, t.o.error);
}

TEST_CASE("hostile peer: STARTTLS answered 220 and then silence times out the handshake") {
  hostile_peer p("starttls-stall", true);
  auto t = send_once(config(p, tls_mode::required));
  CHECK(t.o.kind == outcome_kind::transient);
  CHECK(t.o.error == "timeout in TLS handshake");
  CHECK(t.elapsed < command_timeout + 1000ms);
}

TEST_CASE("hostile peer: a reply injected after the 220 to STARTTLS, before the handshake, is "
          "discarded, never read as the answer to the EHLO sent over TLS") {
  hostile_peer p("starttls-inject", true);
  auto cfg = config(p, tls_mode::required);
  cfg.command_timeout = cfg.data_timeout = 3s;
  auto t = send_once(cfg);
  CHECK_MESSAGE(t.o.kind == outcome_kind::sent, t.o.error, "\n", p.events());
  CHECK_FALSE(contains(t.o.error, "injected"));
  // Had the forged 554 been taken as the answer to the EHLO over TLS, the client would have
  // fallen back to HELO and every later reply would be off by one.
  CHECK(p.saw("HELO client.test").empty());
  CHECK(p.saw("EHLO client.test").size() == 2);
  CHECK_MESSAGE(p.saw("tls").size() == 1, p.events());
  CHECK(p.saw(received).size() == 1);
}

} // namespace test_unit_smtp_hostile_peer_test
