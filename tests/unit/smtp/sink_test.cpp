// The SMTP client against Postfix's smtp-sink: pooling, reuse, and its fault injection.
#include <doctest/doctest.h>

#include <regex>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "smtp/client.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_sink_test {

using namespace iaposte::smtp;
using namespace std::chrono_literals;
namespace test = iaposte::smtp::test;

namespace {

const std::string message = "From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\n"
                            "Hello.\r\n.leading dot\r\n";
const envelope env{"a@example.com", {"b@example.net"}};

// smtp-sink on a free port, with its -c counters in a log file.
class sink {
public:
  explicit sink(std::vector<std::string> options = {}) : port_(test::free_port()) {
    std::vector<std::string> argv{"/usr/sbin/smtp-sink"};
    if (::geteuid() == 0) argv.insert(argv.end(), {"-u", "nobody"}); // it refuses to run as root
    argv.push_back("-c");
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("127.0.0.1:" + std::to_string(port_));
    argv.push_back("100");
    proc_.emplace(argv, dir_ / "sink.log");
    proc_->wait_for_port(port_); // this probe is one session in the counters
  }
  std::uint16_t port() const { return port_; }

  struct counters {
    int sess = -1, quit = -1, mesg = -1;
  };
  // The last "sess=N quit=N mesg=N" line smtp-sink printed.
  counters last() const {
    std::string log = proc_->log();
    static const std::regex re(R"(sess=(\d+) quit=(\d+) mesg=(\d+))");
    counters c;
    for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator();
         ++it)
      c = {std::stoi((*it)[1]), std::stoi((*it)[2]), std::stoi((*it)[3])};
    return c;
  }

private:
  test::temp_dir dir_;
  std::uint16_t port_;
  std::optional<test::child_process> proc_;
};

relay_config config_for(std::uint16_t port) {
  relay_config c;
  c.host = "127.0.0.1";
  c.port = port;
  c.helo_name = "client.test";
  c.connect_timeout = 2s;
  c.command_timeout = 2s;
  c.data_timeout = 2s;
  c.idle_timeout = 10s;
  return c;
}

// Polls the sink's counters while running the io_context (background QUITs need it).
bool wait_counters(boost::asio::io_context& ioc, const sink& s, auto pred) {
  return test::run_until(
      ioc, [&] { return pred(s.last()); }, 5000ms);
}

} // namespace

TEST_CASE("smtp-sink: 200 concurrent messages over a pool of 5 connections are all sent, "
          "reusing connections") {
  sink s;
  boost::asio::io_context ioc;
  auto cfg = config_for(s.port());
  cfg.max_connections = 5;
  cfg.max_messages_per_connection = 100;
  client c(ioc.get_executor(), cfg);

  std::vector<outcome> results;
  std::size_t peak_open = 0;
  for (int i = 0; i < 200; ++i)
    boost::asio::co_spawn(ioc, c.send(env, message), [&](std::exception_ptr e, outcome o) {
      REQUIRE(!e);
      results.push_back(std::move(o));
    });
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(test::run_until(ioc, [&] {
    peak_open = std::max(peak_open, c.connections_open());
    return results.size() == 200;
  }));
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  MESSAGE("200 messages in " << ms.count() << " ms over " << c.connections_opened()
                             << " connections");

  std::size_t sent = 0;
  for (const auto& o : results) {
    if (o.kind == outcome_kind::sent)
      ++sent;
    else
      FAIL_CHECK("not sent: " << o.error);
  }
  CHECK(sent == 200);
  CHECK(c.connections_opened() <= 5);
  CHECK(peak_open <= 5);
  CHECK(results.front().last.code == 250);
  CHECK(results.front().last.enhanced == "2.0.0");

  c.close_idle();
  CHECK(c.connections_open() == 0);
  // smtp-sink's own count: 200 messages, and at most 5 sessions besides the port probe.
  REQUIRE(wait_counters(ioc, s, [](auto k) { return k.mesg == 200 && k.quit >= 1; }));
  CHECK(s.last().sess <= 6);
}

TEST_CASE("smtp-sink: a connection carries at most max_messages_per_connection messages") {
  sink s;
  boost::asio::io_context ioc;
  auto cfg = config_for(s.port());
  cfg.max_connections = 1;
  cfg.max_messages_per_connection = 3;
  client c(ioc.get_executor(), cfg);
  for (int i = 0; i < 7; ++i) {
    auto o = test::run(ioc, c.send(env, message));
    CHECK_MESSAGE(o.kind == outcome_kind::sent, o.error);
  }
  CHECK(c.connections_opened() == 3);
}

TEST_CASE("smtp-sink: an idle connection is closed with QUIT after idle_timeout") {
  sink s;
  boost::asio::io_context ioc;
  auto cfg = config_for(s.port());
  cfg.idle_timeout = 200ms;
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error);
  CHECK(c.connections_open() == 1);
  CHECK(test::run_until(
      ioc, [&] { return c.connections_open() == 0; }, 3000ms));
  CHECK(wait_counters(ioc, s, [](auto k) { return k.quit == 1; }));
}

TEST_CASE("smtp-sink: a pooled connection answering 421 to RSET (-Q RSET) is replaced and the "
          "message still goes out") {
  sink s({"-Q", "RSET"});
  boost::asio::io_context ioc;
  auto cfg = config_for(s.port());
  cfg.max_connections = 1;
  client c(ioc.get_executor(), cfg);
  auto first = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(first.kind == outcome_kind::sent, first.error);
  auto second = test::run(ioc, c.send(env, message));
  CHECK_MESSAGE(second.kind == outcome_kind::sent, second.error);
  CHECK(c.connections_opened() == 2);
}

TEST_CASE("smtp-sink: a pooled connection the sink timed out while idle (-t 1) is replaced at "
          "reuse, and the message still goes out") {
  sink s({"-t", "1"});
  boost::asio::io_context ioc;
  auto cfg = config_for(s.port());
  cfg.max_connections = 1;
  cfg.idle_timeout = 30s;
  client c(ioc.get_executor(), cfg);
  auto first = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(first.kind == outcome_kind::sent, first.error);
  // The sink ends the idle session after 1 s: its counters show a second ended session (the
  // first is the port probe). The client still holds the connection in its pool.
  REQUIRE(wait_counters(ioc, s, [](auto k) { return k.sess >= 2 && k.mesg == 1; }));
  CHECK(c.connections_open() == 1);
  auto second = test::run(ioc, c.send(env, message));
  CHECK_MESSAGE(second.kind == outcome_kind::sent, second.error);
  CHECK(c.connections_opened() == 2);
  REQUIRE(wait_counters(ioc, s, [](auto k) { return k.mesg == 2; }));
}

TEST_CASE("smtp-sink: a 4xx at RCPT (-r RCPT) defers the message as transient, without DATA") {
  sink s({"-r", "RCPT"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config_for(s.port()));
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.last.code == 450);
  CHECK(o.last.enhanced == "4.3.0");
  CHECK(o.error.find("RCPT") != std::string::npos);
  CHECK(c.connections_open() == 1); // after RSET the connection is still good
  c.close_idle();
  REQUIRE(wait_counters(ioc, s, [](auto k) { return k.quit == 1; }));
  CHECK(s.last().mesg == 0);
}

TEST_CASE("smtp-sink: a 5xx to DATA (-f DATA) after accepted recipients bounces the message for "
          "each of them; RSET keeps the connection") {
  sink s({"-f", "DATA"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config_for(s.port()));
  envelope two{"a@example.com", {"b@example.net", "c@example.net"}};
  auto o = test::run(ioc, c.send(two, message));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.last.code / 100 == 5);
  CHECK(o.error.rfind("DATA rejected: ", 0) == 0);
  REQUIRE(o.recipients.size() == 2);
  CHECK(o.recipients[0].kind == outcome_kind::permanent);
  CHECK(o.recipients[1].last.code == o.last.code);
  CHECK(c.connections_open() == 1);
  c.close_idle();
  REQUIRE(wait_counters(ioc, s, [](auto k) { return k.quit == 1; }));
  CHECK(s.last().mesg == 0);
}

TEST_CASE("smtp-sink: a 5xx at MAIL (-f MAIL) bounces the message as permanent") {
  sink s({"-f", "MAIL"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config_for(s.port()));
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.last.code == 500);
  CHECK(o.last.enhanced == "5.3.0");
  CHECK(o.error == "MAIL rejected: 500 5.3.0 Error: command failed");
}

TEST_CASE("smtp-sink: a 5xx after the final dot (-f .) is permanent, a 4xx (-r .) transient") {
  SUBCASE("5xx") {
    sink s({"-f", "."});
    boost::asio::io_context ioc;
    client c(ioc.get_executor(), config_for(s.port()));
    auto o = test::run(ioc, c.send(env, message));
    CHECK(o.kind == outcome_kind::permanent);
    CHECK(o.error.find("end of data") != std::string::npos);
  }
  SUBCASE("4xx") {
    sink s({"-r", "."});
    boost::asio::io_context ioc;
    client c(ioc.get_executor(), config_for(s.port()));
    auto o = test::run(ioc, c.send(env, message));
    CHECK(o.kind == outcome_kind::transient);
    CHECK(o.last.code == 450);
  }
}

TEST_CASE("smtp-sink: a disconnect after the final dot without a reply (-q .) is transient") {
  sink s({"-q", "."});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config_for(s.port()));
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.last.code == 0);
  CHECK(o.error == "connection closed by server while waiting for reply to end of data");
  CHECK(c.connections_open() == 0);
}

TEST_CASE("smtp-sink: a 421 at RCPT (-Q RCPT) is transient and the connection is dropped") {
  sink s({"-Q", "RCPT"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config_for(s.port()));
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.last.code == 421);
  CHECK(c.connections_open() == 0);
}

TEST_CASE("smtp-sink: a rejected EHLO (-f EHLO) falls back to HELO and the message is sent") {
  sink s({"-f", "EHLO"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config_for(s.port()));
  auto o = test::run(ioc, c.send(env, message));
  CHECK_MESSAGE(o.kind == outcome_kind::sent, o.error);
}

TEST_CASE("smtp-sink: a 421 greeting (-Q CONNECT) defers, a 5xx greeting (-f CONNECT) bounces") {
  SUBCASE("421") {
    sink s({"-Q", "CONNECT"});
    boost::asio::io_context ioc;
    client c(ioc.get_executor(), config_for(s.port()));
    auto o = test::run(ioc, c.send(env, message));
    CHECK(o.kind == outcome_kind::transient);
    CHECK(o.last.code == 421);
    CHECK(o.error.find("greeting") != std::string::npos);
    CHECK(c.connections_open() == 0);
  }
  SUBCASE("5xx") {
    sink s({"-f", "CONNECT"});
    boost::asio::io_context ioc;
    client c(ioc.get_executor(), config_for(s.port()));
    auto o = test::run(ioc, c.send(env, message));
    CHECK(o.kind == outcome_kind::permanent);
    CHECK(o.last.code / 100 == 5);
    CHECK(c.connections_open() == 0);
  }
}

TEST_CASE("smtp-sink: a server slower than command_timeout (-W MAIL:2) times out as transient") {
  sink s({"-W", "MAIL:2"});
  boost::asio::io_context ioc;
  auto cfg = config_for(s.port());
  cfg.command_timeout = 300ms;
  client c(ioc.get_executor(), cfg);
  auto t0 = std::chrono::steady_clock::now();
  auto o = test::run(ioc, c.send(env, message));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(o.kind == outcome_kind::transient);
  // smtp-sink offers PIPELINING: the whole group is in its input at once; it answers MAIL and
  // RCPT from it and sleeps before the next one, so the stall shows at DATA.
  CHECK(o.error == "timeout waiting for reply to DATA");
  CHECK(elapsed < 1500ms);
  CHECK(c.connections_open() == 0);
}

TEST_CASE("nothing listening: the message is deferred with a connect error") {
  boost::asio::io_context ioc;
  auto port = test::free_port();
  client c(ioc.get_executor(), config_for(port));
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.last.code == 0);
  CHECK(o.error == "connect 127.0.0.1:" + std::to_string(port) + ": Connection refused");
  CHECK(c.connections_open() == 0);
}

TEST_CASE("smtp-sink: probe connects, reads the greeting, says EHLO and QUIT") {
  sink s;
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config_for(s.port()));
  auto o = test::run(ioc, c.probe());
  CHECK_MESSAGE(o.kind == outcome_kind::sent, o.error);
  CHECK(o.last.code == 220);
  CHECK(o.last.text() == "smtp-sink ESMTP");
  CHECK(c.connections_open() == 0);
  CHECK(wait_counters(ioc, s, [](auto k) { return k.quit == 1; }));
}

TEST_CASE("smtp-sink: AUTH over a plaintext connection is refused locally, as permanent") {
  sink s; // smtp-sink offers AUTH PLAIN LOGIN without TLS
  boost::asio::io_context ioc;
  auto cfg = config_for(s.port());
  cfg.user = "user";
  cfg.password = "s3cret-password";
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.error == "AUTH refused: connection not encrypted");
  CHECK(o.error.find("s3cret") == std::string::npos);
}

TEST_CASE("smtp-sink: STARTTLS required but not offered is a permanent error, never a downgrade") {
  sink s;
  boost::asio::io_context ioc;
  auto cfg = config_for(s.port());
  cfg.tls = tls_mode::required;
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.error == "STARTTLS required but not offered by 127.0.0.1:" + std::to_string(s.port()));
  c.close_idle();
  REQUIRE(wait_counters(ioc, s, [](auto k) { return k.quit == 1; }));
  CHECK(s.last().mesg == 0);
}

TEST_CASE("a bad envelope is refused before any connection, as permanent") {
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config_for(test::free_port()));
  auto none = test::run(ioc, c.send(envelope{"a@example.com", {}}, message));
  CHECK(none.kind == outcome_kind::permanent);
  CHECK(none.error == "no recipients");
  auto inject =
      test::run(ioc, c.send(envelope{"a@example.com>\r\nRSET", {"b@example.net"}}, message));
  CHECK(inject.kind == outcome_kind::permanent);
  auto rcpt = test::run(ioc, c.send(envelope{"a@example.com", {"b@example.net", "c\n"}}, message));
  CHECK(rcpt.kind == outcome_kind::permanent);
  CHECK(rcpt.error.find("#2") != std::string::npos);
  CHECK(c.connections_opened() == 0);
}

} // namespace test_unit_smtp_sink_test
