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
        co_await say("250-hostile\r\n250 8BITMIME\r\n");
      else if (c.rfind("DATA", 0) == 0)
        co_await say("354 go\r\n");
      else
        co_await say("250 ok\r\n");
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
      asio::co_spawn(acceptor_.get_executor(), serve(conversation{std::move(sock), {}}),
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
