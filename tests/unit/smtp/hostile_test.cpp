// The SMTP client against a hostile server written here with Asio: silence, 421, early close,
// huge replies.
#include <doctest/doctest.h>

#include <functional>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "smtp/client.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_hostile_test {

using namespace iaposte::smtp;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
namespace test = iaposte::smtp::test;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// One scripted server connection: read a command line, say something, or hang up.
struct conversation {
  tcp::socket sock;
  std::string in;
  std::string ehlo = "250-hostile\r\n250 8BITMIME\r\n"; // what EHLO gets in answer_until

  awaitable<bool> say(std::string text) {
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(text), use_tuple);
    co_return !ec;
  }
  // The next command line (without CRLF); nullopt when the client hung up.
  awaitable<std::optional<std::string>> command() {
    auto [ec, n] =
        co_await asio::async_read_until(sock, asio::dynamic_buffer(in), "\r\n", use_tuple);
    if (ec) co_return std::nullopt;
    std::string line = in.substr(0, n - 2);
    in.erase(0, n);
    co_return line;
  }
  // Answers commands until `verb` arrives; true when it did.
  awaitable<bool> answer_until(std::string_view verb) {
    for (;;) {
      auto line = co_await command();
      if (!line) co_return false;
      const std::string& c = *line;
      if (c.rfind(verb, 0) == 0) co_return true;
      if (c.rfind("EHLO", 0) == 0)
        co_await say(ehlo);
      else if (c.rfind("DATA", 0) == 0)
        co_await say("354 go\r\n");
      else
        co_await say("250 ok\r\n");
    }
  }
  // The body lines after 354, up to the final dot (excluded); nullopt when the client hung up.
  awaitable<std::optional<std::vector<std::string>>> body() {
    std::vector<std::string> lines;
    for (;;) {
      auto l = co_await command();
      if (!l) co_return std::nullopt;
      if (*l == ".") co_return lines;
      lines.push_back(*l);
    }
  }
  // Waits until the client closes (or the test's io_context goes away).
  awaitable<void> until_closed() {
    char b[512];
    for (;;) {
      auto [ec, n] = co_await sock.async_read_some(asio::buffer(b), use_tuple);
      if (ec) co_return;
    }
  }
};

// Accepts connections on a free port and runs `script` for each one.
class hostile_server {
public:
  using script = std::function<awaitable<void>(conversation&)>;
  hostile_server(asio::io_context& ioc, script s)
      : acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        script_(std::move(s)) {
    asio::co_spawn(ioc, accept_loop(), asio::detached);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int accepted = 0;

private:
  awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(use_tuple);
      if (ec) co_return;
      ++accepted;
      asio::co_spawn(acceptor_.get_executor(),
                     serve(conversation{std::move(sock), {}, "250-hostile\r\n250 8BITMIME\r\n"}),
                     asio::detached);
    }
  }
  awaitable<void> serve(conversation c) {
    // The script is copied into this frame: the server may go away before the connection.
    script s = script_;
    co_await s(c);
  }
  tcp::acceptor acceptor_;
  script script_;
};

relay_config fast(std::uint16_t port) {
  relay_config c;
  c.host = "127.0.0.1";
  c.port = port;
  c.helo_name = "client.test";
  c.connect_timeout = 300ms;
  c.command_timeout = 300ms;
  c.data_timeout = 300ms;
  return c;
}

const envelope env{"a@example.com", {"b@example.net"}};
const std::string message = "Subject: x\r\n\r\nbody\r\n";
const std::string pipelining_ehlo = "250-hostile\r\n250-PIPELINING\r\n250 8BITMIME\r\n";

} // namespace

TEST_CASE("hostile server: a server that never sends its greeting times out within "
          "connect_timeout, as transient") {
  asio::io_context ioc;
  hostile_server srv(ioc, [](conversation& c) -> awaitable<void> { co_await c.until_closed(); });
  client cl(ioc.get_executor(), fast(srv.port()));
  auto t0 = std::chrono::steady_clock::now();
  auto o = test::run(ioc, cl.send(env, message));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.error == "timeout waiting for greeting");
  CHECK(elapsed >= 300ms);
  CHECK(elapsed < 1000ms);
  CHECK(cl.connections_open() == 0);
}

TEST_CASE("hostile server: a 421 answer to MAIL is transient and the connection is dropped") {
  asio::io_context ioc;
  hostile_server srv(ioc, [](conversation& c) -> awaitable<void> {
    co_await c.say("220 hostile ESMTP\r\n");
    if (co_await c.answer_until("MAIL")) co_await c.say("421 4.3.2 going down\r\n");
  });
  client cl(ioc.get_executor(), fast(srv.port()));
  auto o = test::run(ioc, cl.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.last.code == 421);
  CHECK(o.last.enhanced == "4.3.2");
  CHECK(o.error == "MAIL deferred: 421 4.3.2 going down");
  CHECK(cl.connections_open() == 0);
}

TEST_CASE("hostile server: a close in the middle of DATA is transient") {
  asio::io_context ioc;
  hostile_server srv(ioc, [](conversation& c) -> awaitable<void> {
    co_await c.say("220 hostile ESMTP\r\n");
    if (!co_await c.answer_until("DATA")) co_return;
    co_await c.say("354 go ahead\r\n");
    co_await c.command(); // one line of the body, then hang up
    c.sock.close();
  });
  client cl(ioc.get_executor(), fast(srv.port()));
  auto o = test::run(ioc, cl.send(env, std::string(200000, 'x') + "\r\n"));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.last.code == 0);
  bool at_data = o.error.find("end of data") != std::string::npos ||
                 o.error.find("message body") != std::string::npos;
  CHECK_MESSAGE(at_data, o.error);
  CHECK(cl.connections_open() == 0);
}

TEST_CASE("hostile server: a 1 MiB greeting line is refused after 4096 bytes, as transient") {
  asio::io_context ioc;
  hostile_server srv(ioc, [](conversation& c) -> awaitable<void> {
    co_await c.say("220 " + std::string(1 << 20, 'x') + "\r\n");
  });
  client cl(ioc.get_executor(), fast(srv.port()));
  auto o = test::run(ioc, cl.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.error == "malformed greeting: reply line longer than 4096 bytes");
  CHECK(cl.connections_open() == 0);
}

TEST_CASE("hostile server: a reply that never ends (endless continuation lines) is refused after "
          "256 lines") {
  asio::io_context ioc;
  hostile_server srv(ioc, [](conversation& c) -> awaitable<void> {
    co_await c.say("220 hostile\r\n");
    co_await c.command();
    for (int i = 0; i < 10000; ++i)
      if (!co_await c.say("250-more\r\n")) co_return;
  });
  client cl(ioc.get_executor(), fast(srv.port()));
  auto o = test::run(ioc, cl.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.error == "malformed reply to EHLO: reply longer than 256 lines");
}

TEST_CASE("hostile server: a reply trickled one byte at a time is read correctly") {
  asio::io_context ioc;
  hostile_server srv(ioc, [](conversation& c) -> awaitable<void> {
    std::string greeting = "220-hostile\r\n220-slow\r\n220 ready\r\n";
    for (char ch : greeting)
      if (!co_await c.say(std::string(1, ch))) co_return;
    if (!co_await c.answer_until("DATA")) co_return;
    co_await c.say("354 go\r\n");
    for (;;) {
      auto l = co_await c.command();
      if (!l) co_return;
      if (*l == ".") break;
    }
    for (char ch : std::string("250 2.0.0 queued\r\n"))
      if (!co_await c.say(std::string(1, ch))) co_return;
    co_await c.answer_until("QUIT");
  });
  client cl(ioc.get_executor(), fast(srv.port()));
  auto o = test::run(ioc, cl.send(env, message));
  CHECK_MESSAGE(o.kind == outcome_kind::sent, o.error);
  CHECK(o.last.enhanced == "2.0.0");
}

TEST_CASE("hostile server: a 2xx where 354 was expected is a protocol error, the connection is "
          "dropped") {
  asio::io_context ioc;
  hostile_server srv(ioc, [](conversation& c) -> awaitable<void> {
    co_await c.say("220 hostile\r\n");
    if (co_await c.answer_until("DATA")) co_await c.say("250 sure\r\n");
    co_await c.until_closed();
  });
  client cl(ioc.get_executor(), fast(srv.port()));
  auto o = test::run(ioc, cl.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.error == "unexpected reply to DATA: 250 sure");
  CHECK(cl.connections_open() == 0);
}

TEST_CASE("hostile server (no PIPELINING): a recipient deferred and another bounced, none "
          "accepted, defers the whole message; RSET, never DATA") {
  asio::io_context ioc;
  hostile_server srv(ioc, [](conversation& c) -> awaitable<void> {
    co_await c.say("220 hostile\r\n");
    co_await c.answer_until("RCPT");
    co_await c.say("550 5.1.1 no such user\r\n");
    co_await c.command();
    co_await c.say("452 4.2.2 mailbox full\r\n");
    // RSET must come next, never DATA.
    auto next = co_await c.command();
    co_await c.say(next == "RSET" ? "250 reset\r\n" : "554 expected RSET\r\n");
    co_await c.until_closed();
  });
  client cl(ioc.get_executor(), fast(srv.port()));
  envelope two{"a@example.com", {"x@example.net", "y@example.net"}};
  auto o = test::run(ioc, cl.send(two, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.last.code == 452);
  CHECK(o.last.enhanced == "4.2.2");
  REQUIRE(o.recipients.size() == 2);
  CHECK(o.recipients[0].kind == outcome_kind::permanent);
  CHECK(o.recipients[0].last.enhanced == "5.1.1");
  CHECK(o.recipients[1].kind == outcome_kind::transient);
  CHECK(cl.connections_open() == 1); // the RSET was answered 250: still usable
}

TEST_CASE("hostile server (no PIPELINING): partial acceptance sends to the accepted recipient "
          "and reports the refused ones one by one") {
  asio::io_context ioc;
  std::string body;
  hostile_server srv(ioc, [&body](conversation& c) -> awaitable<void> {
    co_await c.say("220 hostile\r\n");
    co_await c.answer_until("RCPT");
    co_await c.say("550 5.1.1 no such user\r\n");
    co_await c.command();
    co_await c.say("452 4.2.2 mailbox full\r\n");
    co_await c.command();
    co_await c.say("250 2.1.5 ok\r\n");
    if (co_await c.command() != "DATA") co_return;
    co_await c.say("354 go\r\n");
    for (;;) {
      auto line = co_await c.command();
      if (!line || *line == ".") break;
      body += *line + "\n";
    }
    co_await c.say("250 2.0.0 queued\r\n");
    co_await c.until_closed();
  });
  client cl(ioc.get_executor(), fast(srv.port()));
  envelope three{"a@example.com", {"x@example.net", "y@example.net", "z@example.net"}};
  auto o = test::run(ioc, cl.send(three, message));
  CHECK_MESSAGE(o.kind == outcome_kind::sent, o.error);
  CHECK(o.error.empty());
  CHECK(o.last.code == 250);
  CHECK(o.last.enhanced == "2.0.0");
  CHECK(o.partial());
  REQUIRE(o.recipients.size() == 3);
  CHECK(o.recipients[0].address == "x@example.net");
  CHECK(o.recipients[0].kind == outcome_kind::permanent);
  CHECK(o.recipients[0].last.code == 550);
  CHECK(o.recipients[1].kind == outcome_kind::transient);
  CHECK(o.recipients[1].last.enhanced == "4.2.2");
  CHECK(o.recipients[2].address == "z@example.net");
  CHECK(o.recipients[2].kind == outcome_kind::sent);
  CHECK(o.recipients[2].last.enhanced == "2.0.0"); // the final reply decided it
  CHECK(body == "Subject: x\n\nbody\n");
}

TEST_CASE("hostile server: with PIPELINING, MAIL, every RCPT and DATA come in one group: a server "
          "that answers nothing before it has DATA still gets the message") {
  asio::io_context ioc;
  std::vector<std::string> group, body;
  hostile_server srv(ioc, [&group, &body](conversation& c) -> awaitable<void> {
    c.ehlo = pipelining_ehlo;
    co_await c.say("220 hostile\r\n");
    if (!co_await c.answer_until("MAIL")) co_return;
    group.push_back("MAIL");
    // Not a byte of answer until the whole group is in: a client waiting for the MAIL reply
    // before sending RCPT would time out.
    for (;;) {
      auto l = co_await c.command();
      if (!l) co_return;
      group.push_back(l->substr(0, 4));
      if (*l == "DATA") break;
    }
    co_await c.say("250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n");
    auto b = co_await c.body();
    if (!b) co_return;
    body = *b;
    co_await c.say("250 2.0.0 queued\r\n");
    co_await c.until_closed();
  });
  client cl(ioc.get_executor(), fast(srv.port()));
  envelope two{"a@example.com", {"x@example.net", "y@example.net"}};
  auto o = test::run(ioc, cl.send(two, message));
  CHECK_MESSAGE(o.kind == outcome_kind::sent, o.error);
  CHECK(group == std::vector<std::string>{"MAIL", "RCPT", "RCPT", "DATA"});
  CHECK(body == std::vector<std::string>{"Subject: x", "", "body"});
}

TEST_CASE("hostile server: with PIPELINING, every RCPT refused but DATA answered 354: the client "
          "sends the lone dot, never the body, and reports the refusals") {
  asio::io_context ioc;
  std::optional<std::vector<std::string>> body;
  hostile_server srv(ioc, [&body](conversation& c) -> awaitable<void> {
    c.ehlo = pipelining_ehlo;
    co_await c.say("220 hostile\r\n");
    if (!co_await c.answer_until("MAIL")) co_return;
    co_await c.command(); // RCPT
    co_await c.command(); // DATA
    co_await c.say("250 ok\r\n550 5.1.1 no such user\r\n354 go anyway\r\n");
    body = co_await c.body();
    co_await c.say("554 5.5.1 no valid recipients\r\n");
    co_await c.until_closed();
  });
  client cl(ioc.get_executor(), fast(srv.port()));
  auto o = test::run(ioc, cl.send(env, message));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.last.code == 550);
  CHECK(o.last.enhanced == "5.1.1");
  CHECK(o.error == "RCPT rejected: 550 5.1.1 no such user");
  REQUIRE(o.recipients.size() == 1);
  CHECK(o.recipients[0].last.code == 550);
  REQUIRE(body);
  CHECK(body->empty()); // "." came alone
  CHECK(cl.connections_open() == 1);
}

TEST_CASE("hostile server: with PIPELINING, MAIL refused and DATA answered 354 anyway: the lone "
          "dot, and the MAIL refusal for every recipient") {
  asio::io_context ioc;
  std::optional<std::vector<std::string>> body;
  hostile_server srv(ioc, [&body](conversation& c) -> awaitable<void> {
    c.ehlo = pipelining_ehlo;
    co_await c.say("220 hostile\r\n");
    if (!co_await c.answer_until("MAIL")) co_return;
    co_await c.command();
    co_await c.command();
    co_await c.command();
    co_await c.say("553 5.7.1 sender refused\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no MAIL\r\n"
                   "354 go anyway\r\n");
    body = co_await c.body();
    co_await c.say("554 5.5.1 nothing to do\r\n");
    co_await c.until_closed();
  });
  client cl(ioc.get_executor(), fast(srv.port()));
  envelope two{"a@example.com", {"x@example.net", "y@example.net"}};
  auto o = test::run(ioc, cl.send(two, message));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.error == "MAIL rejected: 553 5.7.1 sender refused");
  REQUIRE(o.recipients.size() == 2);
  CHECK(o.recipients[1].last.enhanced == "5.7.1");
  REQUIRE(body);
  CHECK(body->empty());
}

TEST_CASE("hostile server: a pooled connection the server closed while idle is replaced at "
          "reuse and the message is not lost") {
  for (bool pipelining : {false, true}) {
    CAPTURE(pipelining);
    asio::io_context ioc;
    int served = 0;
    hostile_server srv(ioc, [&served, pipelining](conversation& c) -> awaitable<void> {
      if (pipelining) c.ehlo = pipelining_ehlo;
      co_await c.say("220 hostile\r\n");
      if (!co_await c.answer_until("DATA")) co_return;
      co_await c.say("354 go\r\n");
      if (!co_await c.body()) co_return;
      ++served;
      co_await c.say("250 2.0.0 queued\r\n");
      // An idle timeout on the server side: hang up without a word (no 421).
      boost::system::error_code ignored;
      c.sock.shutdown(tcp::socket::shutdown_both, ignored);
      c.sock.close();
    });
    auto cfg = fast(srv.port());
    cfg.max_connections = 1;
    cfg.idle_timeout = 10s;
    client cl(ioc.get_executor(), cfg);
    auto first = test::run(ioc, cl.send(env, message));
    REQUIRE_MESSAGE(first.kind == outcome_kind::sent, first.error);
    CHECK(cl.connections_open() == 1); // pooled: the client does not know yet
    auto second = test::run(ioc, cl.send(env, message));
    CHECK_MESSAGE(second.kind == outcome_kind::sent, second.error);
    CHECK(served == 2);
    CHECK(srv.accepted == 2);
    CHECK(cl.connections_opened() == 2);
  }
}

TEST_CASE("hostile server: each RFC 5321 §4.5.3.2 phase has its own timeout") {
  // Every coarse timeout is long; only the phase under test has a short one, so the failure
  // within a second shows that phase's own timeout was used.
  struct phase_case {
    const char* name;
    int stall; // 0 greeting, 1 MAIL, 2 RCPT, 3 DATA, 4 final dot
    const char* error;
  };
  for (auto pc : {phase_case{"greeting", 0, "timeout waiting for greeting"},
                  phase_case{"MAIL", 1, "timeout waiting for reply to MAIL"},
                  phase_case{"RCPT", 2, "timeout waiting for reply to RCPT"},
                  phase_case{"DATA", 3, "timeout waiting for reply to DATA"},
                  phase_case{"final dot", 4, "timeout waiting for reply to end of data"}}) {
    std::string name = pc.name;
    CAPTURE(name);
    asio::io_context ioc;
    int stall = pc.stall;
    hostile_server srv(ioc, [stall](conversation& c) -> awaitable<void> {
      if (stall > 0) {
        co_await c.say("220 hostile\r\n");
        const char* verb = stall == 1 ? "MAIL" : stall == 2 ? "RCPT" : "DATA";
        if (!co_await c.answer_until(verb)) co_return;
        if (stall == 4) {
          co_await c.say("354 go\r\n");
          co_await c.body();
        }
      }
      co_await c.until_closed();
    });
    relay_config cfg = fast(srv.port());
    cfg.connect_timeout = cfg.command_timeout = cfg.data_timeout = 20s;
    const auto short_one = 200ms;
    switch (pc.stall) {
    case 0:
      cfg.greeting_timeout = short_one;
      break;
    case 1:
      cfg.mail_timeout = short_one;
      break;
    case 2:
      cfg.rcpt_timeout = short_one;
      break;
    case 3:
      cfg.data_start_timeout = short_one;
      break;
    default:
      cfg.final_dot_timeout = short_one;
      break;
    }
    client cl(ioc.get_executor(), cfg);
    auto t0 = std::chrono::steady_clock::now();
    auto o = test::run(ioc, cl.send(env, message));
    auto elapsed = std::chrono::steady_clock::now() - t0;
    CHECK(o.kind == outcome_kind::transient);
    CHECK(o.error == pc.error);
    CHECK(elapsed >= short_one);
    CHECK(elapsed < 1500ms);
    CHECK(cl.connections_open() == 0);
  }
}

TEST_CASE("hostile server: with PIPELINING, each reply of the group has its phase's timeout") {
  struct phase_case {
    int answered; // replies sent before the stall: 0 MAIL, 1 RCPT, 2 DATA
    const char* error;
  };
  for (auto pc : {phase_case{0, "timeout waiting for reply to MAIL"},
                  phase_case{1, "timeout waiting for reply to RCPT"},
                  phase_case{2, "timeout waiting for reply to DATA"}}) {
    std::string error = pc.error;
    CAPTURE(error);
    asio::io_context ioc;
    int answered = pc.answered;
    hostile_server srv(ioc, [answered](conversation& c) -> awaitable<void> {
      c.ehlo = pipelining_ehlo;
      co_await c.say("220 hostile\r\n");
      if (!co_await c.answer_until("MAIL")) co_return;
      co_await c.command(); // RCPT
      co_await c.command(); // DATA
      const char* replies[] = {"250 ok\r\n", "250 ok\r\n"};
      for (int i = 0; i < answered; ++i)
        co_await c.say(replies[i]);
      co_await c.until_closed();
    });
    relay_config cfg = fast(srv.port());
    cfg.connect_timeout = cfg.command_timeout = cfg.data_timeout = 20s;
    cfg.mail_timeout = answered == 0 ? 200ms : 20s;
    cfg.rcpt_timeout = answered == 1 ? 200ms : 20s;
    cfg.data_start_timeout = answered == 2 ? 200ms : 20s;
    client cl(ioc.get_executor(), cfg);
    auto t0 = std::chrono::steady_clock::now();
    auto o = test::run(ioc, cl.send(env, message));
    CHECK(o.error == error);
    CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
  }
}

TEST_CASE("hostile server: with PIPELINING, a close after the MAIL reply is transient for every "
          "recipient and nothing is retried on that connection") {
  asio::io_context ioc;
  hostile_server srv(ioc, [](conversation& c) -> awaitable<void> {
    c.ehlo = pipelining_ehlo;
    co_await c.say("220 hostile\r\n");
    if (!co_await c.answer_until("MAIL")) co_return;
    co_await c.command();
    co_await c.command();
    co_await c.say("250 2.1.0 ok\r\n");
    c.sock.close();
  });
  client cl(ioc.get_executor(), fast(srv.port()));
  auto o = test::run(ioc, cl.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.error == "connection closed by server while waiting for reply to RCPT");
  REQUIRE(o.recipients.size() == 1);
  CHECK(o.recipients[0].kind == outcome_kind::transient);
  CHECK(cl.connections_open() == 0);
  CHECK(srv.accepted == 1);
}

namespace {

// Reads the body in small bites with a pause between them, like a slow but live server.
awaitable<bool> read_slowly(conversation& c, std::chrono::milliseconds pause, std::size_t& received,
                            bool stop_reading) {
  asio::steady_timer t(c.sock.get_executor());
  std::string tail = std::move(c.in);
  std::vector<char> buf(256 * 1024);
  for (;;) {
    if (tail.size() >= 5 && tail.ends_with("\r\n.\r\n")) co_return true;
    if (stop_reading) { // never reads again: the socket buffers fill up, the client stalls
      t.expires_after(std::chrono::seconds(60));
      co_await t.async_wait(use_tuple);
      co_return false;
    }
    auto [ec, n] = co_await c.sock.async_read_some(asio::buffer(buf), use_tuple);
    if (ec) co_return false;
    received += n;
    tail.append(buf.data(), n);
    if (tail.size() > 8) tail.erase(0, tail.size() - 8);
    t.expires_after(pause);
    co_await t.async_wait(use_tuple);
  }
}

} // namespace

TEST_CASE("hostile server: the data block timeout bounds each write, not the whole body: a slow "
          "reader gets a big message, a reader that stops is timed out") {
  const std::string big = [] {
    std::string line(98, 'b');
    line += "\r\n";
    std::string m = "Subject: big\r\n\r\n";
    while (m.size() < (24u << 20))
      m += line;
    return m;
  }();
  for (bool stop : {false, true}) {
    CAPTURE(stop);
    asio::io_context ioc;
    std::size_t received = 0;
    hostile_server srv(ioc, [&received, stop](conversation& c) -> awaitable<void> {
      co_await c.say("220 hostile\r\n");
      if (!co_await c.answer_until("DATA")) co_return;
      co_await c.say("354 go\r\n");
      if (co_await read_slowly(c, 10ms, received, stop)) co_await c.say("250 2.0.0 queued\r\n");
      co_await c.until_closed();
    });
    relay_config cfg = fast(srv.port());
    cfg.data_timeout = 20s;
    cfg.data_block_timeout = 400ms;
    client cl(ioc.get_executor(), cfg);
    auto t0 = std::chrono::steady_clock::now();
    auto o = test::run(ioc, cl.send(env, big), 30000ms);
    auto elapsed = std::chrono::steady_clock::now() - t0;
    MESSAGE("24 MiB body, stop="
            << stop << ": " << o.error << " after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms, "
            << received << " bytes read");
    if (!stop) {
      CHECK_MESSAGE(o.kind == outcome_kind::sent, o.error);
      CHECK(elapsed > 400ms); // longer than one block timeout in all
    } else {
      CHECK(o.kind == outcome_kind::transient);
      CHECK(o.error == "timeout sending message body");
      CHECK(elapsed < 3000ms);
    }
  }
}

} // namespace test_unit_smtp_hostile_test
