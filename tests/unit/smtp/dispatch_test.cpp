// Direct MX delivery against real peers: unbound serving the MX records on 127.0.0.1, Postfix's
// smtp-sink on other loopback addresses (127.0.0.3 accepts; others refuse in a given way).
#include <doctest/doctest.h>

#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "../dns/unbound.hpp"
#include "aiosmtpd_peer.hpp"
#include "smtp/dispatch.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_dispatch_test {

using namespace iaposte::smtp;
using namespace std::chrono_literals;
namespace test = iaposte::smtp::test;
namespace dtest = iaposte::dns::test;

namespace {

const std::string message = "From: a@example.com\r\nTo: b@failover.test\r\nSubject: hi\r\n\r\n"
                            "Hello.\r\n";

bool accepts(const std::string& address, std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  a.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// smtp-sink on address:port, with fault-injection options.
class sink {
public:
  sink(const std::string& address, std::uint16_t port, std::vector<std::string> options = {}) {
    std::vector<std::string> argv{"/usr/sbin/smtp-sink"};
    if (::geteuid() == 0) argv.insert(argv.end(), {"-u", "nobody"});
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(address + ":" + std::to_string(port));
    argv.push_back("100");
    proc_.emplace(argv, dir_ / "sink.log");
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!accepts(address, port)) {
      if (!proc_->running() || std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("smtp-sink on " + address + " did not start: " + proc_->log());
      std::this_thread::sleep_for(10ms);
    }
  }

private:
  test::temp_dir dir_;
  std::optional<test::child_process> proc_;
};

// The peers every test shares: started once, stopped at exit.
struct peers {
  dtest::unbound_server dns{dtest::routing_zone()};
  std::uint16_t port = test::free_port();
  sink up{"127.0.0.3", port};
  sink greet421{"127.0.0.7", port, {"-Q", "CONNECT"}};
  sink greet554{"127.0.0.6", port, {"-f", "CONNECT"}};
  sink rcpt4xx{"127.0.0.8", port, {"-r", "RCPT"}};
  // 127.0.0.2: nothing listens there (connection refused).
};

peers& shared() {
  static peers p;
  return p;
}

routing_config direct_config_for(const peers& p) {
  routing_config c;
  c.mode = route::mode::direct;
  c.smtp.helo_name = "client.test";
  c.smtp.connect_timeout = 2s;
  c.smtp.command_timeout = 2s;
  c.smtp.data_timeout = 2s;
  c.direct.port = p.port;
  c.direct.tls = tls_mode::none; // smtp-sink offers no STARTTLS
  c.direct.dns.nameservers = {p.dns.nameserver()};
  c.direct.dns.timeout = 1000ms;
  return c;
}

dispatch_result send(dispatcher& d, boost::asio::io_context& ioc, const envelope& env,
                     std::string_view tenant = "t") {
  return test::run(ioc, d.send(env, message, tenant), 20000ms);
}

} // namespace

TEST_CASE("direct: an unreachable first MX is skipped and the second one takes the message") {
  auto& p = shared();
  boost::asio::io_context ioc;
  dispatcher d(ioc.get_executor(), direct_config_for(p));
  auto r = send(d, ioc, {"a@example.com", {"b@failover.test", "c@FAILOVER.test"}});
  REQUIRE(r.domains.size() == 1);
  const auto& o = r.domains[0];
  CHECK_MESSAGE(o.outcome.kind == outcome_kind::sent, o.outcome.error);
  CHECK(o.host == "up.failover.test[127.0.0.3]");
  CHECK(o.recipients.size() == 2);
  CHECK(r.overall().kind == outcome_kind::sent);
  CHECK(d.clients() == 2); // one per MX address tried
}

TEST_CASE("direct: a 421 greeting moves on to the next MX and slows the destination down") {
  auto& p = shared();
  boost::asio::io_context ioc;
  auto cfg = direct_config_for(p);
  cfg.shaping.destination_default.rate = 100;
  dispatcher d(ioc.get_executor(), cfg);
  auto r = send(d, ioc, {"a@example.com", {"b@greet4.test"}});
  REQUIRE(r.domains.size() == 1);
  CHECK_MESSAGE(r.domains[0].outcome.kind == outcome_kind::sent, r.domains[0].outcome.error);
  CHECK(r.domains[0].host == "up.failover.test[127.0.0.3]");
  CHECK(d.shaping().shaper().rate("greet4.test", std::chrono::steady_clock::now()) == 50);
}

TEST_CASE("direct: a 5xx greeting bounces without trying the next MX") {
  auto& p = shared();
  boost::asio::io_context ioc;
  dispatcher d(ioc.get_executor(), direct_config_for(p));
  auto r = send(d, ioc, {"a@example.com", {"b@greet5.test"}});
  REQUIRE(r.domains.size() == 1);
  CHECK(r.domains[0].outcome.kind == outcome_kind::permanent);
  CHECK(r.domains[0].outcome.last.code / 100 == 5);
  CHECK(r.domains[0].host == "g5.greet5.test[127.0.0.6]");
}

TEST_CASE("direct: a 4xx to RCPT defers on that MX; the message does not go to the next") {
  auto& p = shared();
  boost::asio::io_context ioc;
  dispatcher d(ioc.get_executor(), direct_config_for(p));
  auto r = send(d, ioc, {"a@example.com", {"b@rcpt4.test"}});
  REQUIRE(r.domains.size() == 1);
  CHECK(r.domains[0].outcome.kind == outcome_kind::transient);
  CHECK(r.domains[0].outcome.last.code / 100 == 4);
  CHECK(r.domains[0].host == "r4.rcpt4.test[127.0.0.8]");
}

TEST_CASE("direct: one envelope, outcomes per domain: sent, null MX, NXDOMAIN, DNS refused") {
  auto& p = shared();
  boost::asio::io_context ioc;
  dispatcher d(ioc.get_executor(), direct_config_for(p));
  auto r = send(d, ioc,
                {"a@example.com",
                 {"b@failover.test", "c@nullmx.test", "d@nxdomain.test", "e@refused.test",
                  "f@failover.test"}});
  REQUIRE(r.domains.size() == 4);
  CHECK(r.domains[0].domain == "failover.test");
  CHECK(r.domains[0].outcome.kind == outcome_kind::sent);
  CHECK(r.domains[0].recipients.size() == 2);
  CHECK(r.domains[1].outcome.kind == outcome_kind::permanent);
  CHECK(r.domains[1].outcome.last.enhanced == "5.1.10");
  CHECK(r.domains[1].host.empty());
  CHECK(r.domains[2].outcome.kind == outcome_kind::permanent);
  CHECK(r.domains[2].outcome.last.enhanced == "5.1.2");
  CHECK(r.domains[3].outcome.kind == outcome_kind::transient);
  CHECK(r.domains[3].outcome.last.enhanced == "4.4.3");
  CHECK(r.overall().kind == outcome_kind::transient);
  // The one verdict: who has it, who bounced (with the reply), who is retried.
  auto v = judge(r);
  CHECK(v.delivered == std::vector<std::string>{"b@failover.test", "f@failover.test"});
  REQUIRE(v.bounced.size() == 2);
  CHECK(v.bounced[0].address == "c@nullmx.test");
  CHECK(v.bounced[0].last.enhanced == "5.1.10");
  CHECK(v.bounced[1].address == "d@nxdomain.test");
  CHECK(v.bounced[1].last.bad_address());
  REQUIRE(v.retry.size() == 1);
  CHECK(v.retry[0].address == "e@refused.test");
  CHECK(v.retry[0].last.enhanced == "4.4.3");
  CHECK(v.decided.kind == outcome_kind::sent); // some recipients have it
  CHECK(v.decided.recipients.empty());
  CHECK(r.domains[3].outcome.at == phase::resolve);
  CHECK(r.domains[3].outcome.scope == failure_scope::site);
  CHECK(r.domains[1].outcome.at == phase::resolve);
}

TEST_CASE("direct: a domain without MX is delivered to its own address (implicit MX)") {
  auto& p = shared();
  boost::asio::io_context ioc;
  auto cfg = direct_config_for(p);
  dispatcher d(ioc.get_executor(), cfg);
  // nomx.test has A 127.0.0.4 where nothing listens: the attempt shows where it went.
  auto r = send(d, ioc, {"a@example.com", {"b@nomx.test"}});
  REQUIRE(r.domains.size() == 1);
  CHECK(r.domains[0].host == "nomx.test[127.0.0.4]");
  CHECK(r.domains[0].outcome.kind == outcome_kind::transient); // connection refused
}

TEST_CASE("direct: an address literal goes to that address without DNS") {
  auto& p = shared();
  boost::asio::io_context ioc;
  dispatcher d(ioc.get_executor(), direct_config_for(p));
  auto r = send(d, ioc, {"a@example.com", {"postmaster@[127.0.0.3]"}});
  REQUIRE(r.domains.size() == 1);
  CHECK_MESSAGE(r.domains[0].outcome.kind == outcome_kind::sent, r.domains[0].outcome.error);
  CHECK(r.domains[0].host == "[127.0.0.3][127.0.0.3]");
}

TEST_CASE("direct: per-host clients are reused while busy and dropped once idle") {
  auto& p = shared();
  boost::asio::io_context ioc;
  auto cfg = direct_config_for(p);
  cfg.direct.client_idle_timeout = 300ms;
  dispatcher d(ioc.get_executor(), cfg);
  for (int i = 0; i < 3; ++i) {
    auto r = send(d, ioc, {"a@example.com", {"b@failover.test"}});
    CHECK(r.overall().kind == outcome_kind::sent);
  }
  CHECK(d.clients() == 2);
  CHECK(d.connections_opened() == 4); // 3 refused on 127.0.0.2, 1 reused on 127.0.0.3
  CHECK(test::run_until(
      ioc, [&] { return d.clients() == 0; }, 5000ms));
}

TEST_CASE("direct: a destination's concurrency cap holds while messages wait, none lost") {
  auto& p = shared();
  boost::asio::io_context ioc;
  auto cfg = direct_config_for(p);
  cfg.shaping.destinations["failover.test"] = {.max_concurrent = 2, .rate = 200, .burst = 5};
  dispatcher d(ioc.get_executor(), cfg);
  int sent = 0, done = 0;
  std::size_t peak = 0;
  const envelope env{"a@example.com", {"b@failover.test"}};
  auto one = [](dispatcher* d, const envelope* env, int* sent,
                int* done) -> boost::asio::awaitable<void> {
    auto r = co_await d->send(*env, message, "t");
    if (r.overall().kind == outcome_kind::sent) ++*sent;
    ++*done;
  };
  for (int i = 0; i < 20; ++i)
    boost::asio::co_spawn(ioc, one(&d, &env, &sent, &done), boost::asio::detached);
  CHECK(test::run_until(
      ioc,
      [&] {
        peak = std::max(peak, d.shaping().shaper().in_flight("failover.test"));
        return done == 20;
      },
      20000ms));
  CHECK(sent == 20);
  CHECK(peak <= 2);
  CHECK(peak >= 1);
}

TEST_CASE("relay: every domain goes through the one relay and shares its outcome") {
  auto& p = shared();
  boost::asio::io_context ioc;
  routing_config cfg;
  cfg.mode = route::mode::relay;
  cfg.smtp.host = "127.0.0.3";
  cfg.smtp.port = p.port;
  cfg.smtp.helo_name = "client.test";
  dispatcher d(ioc.get_executor(), cfg);
  CHECK(test::run(ioc, d.probe()).kind == outcome_kind::sent);
  auto r = send(d, ioc, {"a@example.com", {"b@nullmx.test", "c@elsewhere.test"}});
  REQUIRE(r.domains.size() == 2);
  for (const auto& o : r.domains) {
    CHECK(o.outcome.kind == outcome_kind::sent);
    CHECK(o.host == "127.0.0.3:" + std::to_string(p.port));
  }
  CHECK(d.clients() == 1);
}

TEST_CASE("direct: opportunistic TLS delivers in the clear to an MX without STARTTLS") {
  auto& p = shared();
  boost::asio::io_context ioc;
  auto cfg = direct_config_for(p);
  cfg.direct.tls = tls_mode::opportunistic;
  dispatcher d(ioc.get_executor(), cfg);
  auto r = send(d, ioc, {"a@example.com", {"b@failover.test"}});
  CHECK_MESSAGE(r.overall().kind == outcome_kind::sent, r.overall().error);
}

TEST_CASE("direct: a domain whose policy requires TLS is deferred when no MX offers STARTTLS") {
  auto& p = shared();
  boost::asio::io_context ioc;
  auto cfg = direct_config_for(p);
  cfg.direct.tls = tls_mode::opportunistic;
  cfg.direct.tls_policies["failover.test"] = tls_mode::required;
  cfg.smtp.verify_peer = false; // connect by address: the MX names exist only in unbound
  dispatcher d(ioc.get_executor(), cfg);
  auto r = send(d, ioc, {"a@example.com", {"b@failover.test", "c@[127.0.0.3]"}});
  REQUIRE(r.domains.size() == 2);
  const auto& o = r.domains[0];
  CHECK(o.outcome.kind == outcome_kind::transient); // never a silent downgrade, never a bounce
  CHECK_MESSAGE(o.outcome.error.find("STARTTLS required") != std::string::npos, o.outcome.error);
  CHECK(o.host == "up.failover.test[127.0.0.3]");         // both MX tried
  CHECK(r.domains[1].outcome.kind == outcome_kind::sent); // other domains: the default policy
}

TEST_CASE("direct: an internationalised domain's MX is looked up in A-labels; without SMTPUTF8 "
          "the envelope goes in A-labels and a UTF-8 local part is refused alone (5.6.7)") {
  auto& p = shared();
  test::aiosmtpd_peer mx({"--pipelining"}); // on 127.0.0.1, no SMTPUTF8
  boost::asio::io_context ioc;
  auto cfg = direct_config_for(p);
  cfg.direct.port = mx.port();
  dispatcher d(ioc.get_executor(), cfg);
  auto r = send(d, ioc,
                {"contact@atelier-durand.fr", {"bob@exemple-été.test", "hélène@exemple-été.test"}});
  REQUIRE(r.domains.size() == 1);
  const auto& o = r.domains[0];
  CHECK(o.domain == "xn--exemple-t-i4ab.test");
  CHECK(o.host == "mx.xn--exemple-t-i4ab.test[127.0.0.1]");
  REQUIRE_MESSAGE(o.outcome.kind == outcome_kind::sent, o.outcome.error, "\n", mx.log());
  REQUIRE(o.outcome.recipients.size() == 2);
  CHECK(o.outcome.recipients[1].address == "hélène@exemple-été.test");
  CHECK(o.outcome.recipients[1].kind == outcome_kind::permanent);
  CHECK(o.outcome.recipients[1].last.enhanced == "5.6.7");
  auto v = judge(r);
  CHECK(v.decided.kind == outcome_kind::sent);
  CHECK(v.delivered == std::vector<std::string>{"bob@exemple-été.test"});
  REQUIRE(v.bounced.size() == 1);
  CHECK(v.bounced[0].last.enhanced == "5.6.7");
  CHECK(v.retry.empty());
  auto got = mx.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0].has(R"("rcpt_tos": ["bob@xn--exemple-t-i4ab.test"])"));
}

TEST_CASE("direct: an internationalised domain's MX that offers SMTPUTF8 gets U-labels") {
  auto& p = shared();
  test::aiosmtpd_peer mx({"--smtputf8"});
  boost::asio::io_context ioc;
  auto cfg = direct_config_for(p);
  cfg.direct.port = mx.port();
  dispatcher d(ioc.get_executor(), cfg);
  auto r = send(d, ioc,
                {"contact@atelier-durand.fr", {"bob@exemple-été.test", "hélène@exemple-été.test"}});
  REQUIRE(r.domains.size() == 1);
  REQUIRE_MESSAGE(r.domains[0].outcome.kind == outcome_kind::sent, r.domains[0].outcome.error);
  CHECK_FALSE(r.domains[0].outcome.partial());
  auto got = mx.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0].has(R"("rcpt_tos": ["bob@exemple-été.test", "hélène@exemple-été.test"])"));
  CHECK(got[0].has("\"SMTPUTF8\""));
}

} // namespace test_unit_smtp_dispatch_test
