// MX resolution against a real unbound on loopback serving local records.
#include <doctest/doctest.h>

#include <map>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "dns/resolver.hpp"
#include "unbound.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_dns_resolver_test {

using namespace iaposte::dns;
using namespace std::chrono_literals;
namespace stest = iaposte::smtp::test;

namespace {

// One server for the whole file: started on first use, stopped at exit.
const test::unbound_server& server() {
  static test::unbound_server s(test::routing_zone());
  return s;
}

resolver_config config_for(std::string nameserver) {
  resolver_config c;
  c.nameservers = {std::move(nameserver)};
  c.timeout = 500ms;
  c.tries = 1;
  return c;
}

mx_result lookup(std::string_view domain) {
  boost::asio::io_context ioc;
  resolver r(ioc.get_executor(), config_for(server().nameserver()));
  return stest::run(ioc, r.resolve_mx(domain), 10000ms);
}

std::vector<std::string> names(const mx_result& r) {
  std::vector<std::string> out;
  for (const auto& h : r.hosts)
    out.push_back(h.name);
  return out;
}

} // namespace

TEST_CASE("unbound: MX hosts come in preference order, each with its A and AAAA addresses") {
  auto r = lookup("pref.test");
  REQUIRE_MESSAGE(r.status == status::ok, r.error);
  CHECK_FALSE(r.implicit);
  CHECK(names(r) == std::vector<std::string>{"mx5.pref.test", "mx10.pref.test", "mx20.pref.test"});
  CHECK(r.hosts[0].preference == 5);
  CHECK(r.hosts[0].addresses == std::vector<std::string>{"127.0.0.5"});
  CHECK(r.hosts[1].addresses == std::vector<std::string>{"127.0.0.10", "::10"}); // IPv4 first
}

TEST_CASE("unbound: MX hosts of equal preference are tried in varying order, the worse last") {
  boost::asio::io_context ioc;
  resolver r(ioc.get_executor(), config_for(server().nameserver()));
  std::map<std::string, int> first;
  for (int i = 0; i < 40; ++i) {
    auto m = stest::run(ioc, r.resolve_mx("equal.test"), 10000ms);
    REQUIRE_MESSAGE(m.status == status::ok, m.error);
    REQUIRE(m.hosts.size() == 5);
    CHECK(m.hosts.back().name == "last.equal.test");
    ++first[m.hosts.front().name];
  }
  CHECK_MESSAGE(first.size() >= 3, "only " << first.size() << " distinct first hosts in 40");
  CHECK(first.count("last.equal.test") == 0);
}

TEST_CASE("unbound: an MX answer too big for UDP is fetched again over TCP") {
  auto r = lookup("big.test");
  REQUIRE_MESSAGE(r.status == status::ok, r.error);
  REQUIRE(r.hosts.size() == 10); // max_mx_hosts
  for (std::size_t i = 0; i < r.hosts.size(); ++i) {
    CHECK(r.hosts[i].preference == i + 1);
    CHECK(r.hosts[i].addresses == std::vector<std::string>{"127.0.2." + std::to_string(i + 1)});
  }
}

TEST_CASE("unbound: a domain without MX is its own implicit MX (RFC 5321 §5.1)") {
  auto r = lookup("NoMX.test.");
  REQUIRE_MESSAGE(r.status == status::ok, r.error);
  CHECK(r.implicit);
  REQUIRE(r.hosts.size() == 1);
  CHECK(r.hosts[0].name == "nomx.test");
  CHECK(r.hosts[0].preference == 0);
  CHECK(r.hosts[0].addresses == std::vector<std::string>{"127.0.0.4"});
}

TEST_CASE("unbound: a null MX is a permanent failure 5.1.10 (RFC 7505)") {
  auto r = lookup("nullmx.test");
  CHECK(r.status == status::permanent);
  CHECK(r.enhanced == "5.1.10");
  CHECK(r.hosts.empty());
  CHECK_MESSAGE(r.error.find("null MX") != std::string::npos, r.error);
}

TEST_CASE("unbound: NXDOMAIN is a permanent failure 5.1.2") {
  auto r = lookup("nxdomain.test");
  CHECK(r.status == status::permanent);
  CHECK(r.enhanced == "5.1.2");
  CHECK_MESSAGE(r.error.find("NXDOMAIN") != std::string::npos, r.error);
}

TEST_CASE("unbound: an MX whose only target does not exist is permanent 5.4.4") {
  auto r = lookup("noaddr.test");
  CHECK(r.status == status::permanent);
  CHECK(r.enhanced == "5.4.4");
  CHECK_MESSAGE(r.error.find("missing.test") != std::string::npos, r.error);
}

TEST_CASE("unbound: a REFUSED answer is transient 4.4.3") {
  auto r = lookup("refused.test");
  CHECK(r.status == status::transient);
  CHECK(r.enhanced == "4.4.3");
  CHECK_MESSAGE(r.error.find("REFUSED") != std::string::npos, r.error);
}

TEST_CASE("unbound: a SERVFAIL answer is transient 4.4.3") {
  boost::asio::io_context ioc;
  auto cfg = config_for(server().nameserver());
  cfg.timeout = 8000ms; // unbound gives up on the dead forwarder first
  resolver res(ioc.get_executor(), cfg);
  auto start = std::chrono::steady_clock::now();
  auto r = stest::run(ioc, res.resolve_mx("servfail.test"), 20000ms);
  CHECK(r.status == status::transient);
  CHECK(r.enhanced == "4.4.3");
  CHECK_MESSAGE(r.error.find("SERVFAIL") != std::string::npos, r.error);
  CHECK(std::chrono::steady_clock::now() - start < 6s); // unbound's answer, not our timeout
  MESSAGE("SERVFAIL after " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - start)
                                   .count()
                            << " ms");
}

TEST_CASE("unbound: address lookups answer A and AAAA together") {
  boost::asio::io_context ioc;
  resolver r(ioc.get_executor(), config_for(server().nameserver()));
  auto a = stest::run(ioc, r.resolve_addresses("mx10.pref.test"), 10000ms);
  CHECK(a.status == status::ok);
  CHECK(a.addresses == std::vector<std::string>{"127.0.0.10", "::10"});
  auto none = stest::run(ioc, r.resolve_addresses("missing.test"), 10000ms);
  CHECK(none.status == status::permanent);
}

TEST_CASE("a name server that never answers is a transient timeout, bounded by the config") {
  // A bound UDP socket nobody reads: queries vanish, as with a dead server.
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  std::string ns = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));

  boost::asio::io_context ioc;
  resolver r(ioc.get_executor(), config_for(ns));
  auto start = std::chrono::steady_clock::now();
  auto m = stest::run(ioc, r.resolve_mx("pref.test"), 10000ms);
  auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  CHECK(m.status == status::transient);
  CHECK(m.enhanced == "4.4.3");
  CHECK_MESSAGE(m.error.find("timeout") != std::string::npos, m.error);
  CHECK(took < 5s); // 500 ms, one try; generous bound
}

TEST_CASE("a syntactically bad domain is refused without a query") {
  boost::asio::io_context ioc;
  resolver r(ioc.get_executor(), config_for("127.0.0.1:9"));
  auto m = stest::run(ioc, r.resolve_mx("bad domain\r\n"), 2000ms);
  CHECK(m.status == status::permanent);
  CHECK(r.queries() == 0);
}

TEST_CASE("a nameserver that is not an address is a start-up error") {
  boost::asio::io_context ioc;
  CHECK_THROWS_AS(resolver(ioc.get_executor(), config_for("dns.example.com")),
                  std::invalid_argument);
}

TEST_CASE("unbound: 300 lookups at once on one resolver all complete with the right answers") {
  boost::asio::io_context ioc;
  // About 900 queries: sent all at once they overflow unbound's UDP receive buffer on loopback
  // (RcvbufErrors), and with one try and 500 ms many would time out. max_in_flight spreads them.
  auto cfg = config_for(server().nameserver());
  cfg.max_in_flight = 50;
  resolver r(ioc.get_executor(), cfg);
  auto start = std::chrono::steady_clock::now();
  const char* domains[] = {"pref.test", "nomx.test", "nullmx.test", "nxdomain.test", "equal.test"};
  const status expected[] = {status::ok, status::ok, status::permanent, status::permanent,
                             status::ok};
  int done = 0, right = 0;
  auto one = [](resolver* r, const char* d, status want, int* done,
                int* right) -> boost::asio::awaitable<void> {
    auto m = co_await r->resolve_mx(d);
    if (m.status == want) ++*right;
    ++*done;
  };
  for (int i = 0; i < 300; ++i)
    boost::asio::co_spawn(ioc, one(&r, domains[i % 5], expected[i % 5], &done, &right),
                          boost::asio::detached);
  CHECK(stest::run_until(
      ioc, [&] { return done == 300; }, 20000ms));
  CHECK(right == 300);
  CHECK(r.queries() >= 900);
  MESSAGE("300 lookups in " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - start)
                                   .count()
                            << " ms");
}

} // namespace test_unit_dns_resolver_test
