// Delivery order of MX answers, null MX, names and nameserver addresses (no sockets).
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "dns/mx.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_dns_mx_test {

using namespace iaposte::dns;

TEST_CASE("MX records are ordered by preference, lowest first") {
  std::mt19937 rng(1);
  auto out = order_mx({{"c.test", 30}, {"a.test", 10}, {"b.test", 20}}, rng);
  REQUIRE(out.size() == 3);
  CHECK(out[0].host == "a.test");
  CHECK(out[1].host == "b.test");
  CHECK(out[2].host == "c.test");
}

TEST_CASE("MX hosts of equal preference come in every order, and never after a worse one") {
  std::mt19937 rng(42);
  std::map<std::string, int> first;
  for (int i = 0; i < 400; ++i) {
    auto out = order_mx({{"a", 10}, {"b", 10}, {"c", 10}, {"z", 50}, {"y", 5}}, rng);
    REQUIRE(out.size() == 5);
    CHECK(out.front().host == "y");
    CHECK(out.back().host == "z");
    ++first[out[1].host];
  }
  // Uniform would be ~133 each; a fixed order would give 400 to one of them.
  for (const char* h : {"a", "b", "c"})
    CHECK_MESSAGE(first[h] > 60, h << " came second " << first[h] << " times out of 400");
}

TEST_CASE("duplicate MX targets are kept once at their best preference, root targets dropped") {
  std::mt19937 rng(7);
  auto out = order_mx({{"a", 20}, {"", 0}, {"a", 10}, {"b", 15}}, rng);
  REQUIRE(out.size() == 2);
  CHECK(out[0].host == "a");
  CHECK(out[0].preference == 10);
  CHECK(out[1].host == "b");
}

TEST_CASE("null MX is exactly one MX of preference 0 to the root (RFC 7505)") {
  CHECK(is_null_mx({{"", 0}}));
  CHECK(is_null_mx({{".", 0}}));
  CHECK_FALSE(is_null_mx({{"", 10}}));
  CHECK_FALSE(is_null_mx({{"", 0}, {"mx.test", 10}}));
  CHECK_FALSE(is_null_mx({{"mx.test", 0}}));
  CHECK_FALSE(is_null_mx({}));
}

TEST_CASE("domains are lower-cased without the trailing dot; bad names are refused") {
  CHECK(normalize_domain("Example.COM.") == "example.com");
  CHECK(normalize_domain("_dmarc.x-y.test") == "_dmarc.x-y.test");
  CHECK(normalize_domain("") == "");
  CHECK(normalize_domain(".") == "");
  CHECK(normalize_domain("a..b") == "");
  CHECK(normalize_domain("a b.test") == "");
  CHECK(normalize_domain("evil\r\n.test") == "");
  CHECK(normalize_domain(std::string(64, 'a') + ".test") == "");
  CHECK(normalize_domain(std::string(63, 'a') + ".test") == std::string(63, 'a') + ".test");
  CHECK(normalize_domain(std::string(300, 'a')) == "");
}

TEST_CASE("nameservers are addresses with an optional port, in c-ares's CSV form") {
  CHECK(nameserver_csv_entry("127.0.0.1") == "127.0.0.1");
  CHECK(nameserver_csv_entry("127.0.0.1:5353") == "127.0.0.1:5353");
  CHECK(nameserver_csv_entry("::1") == "::1");
  CHECK(nameserver_csv_entry("[::1]:5353") == "[::1]:5353");
  CHECK(nameserver_csv_entry("dns.example.com") == "");
  CHECK(nameserver_csv_entry("127.0.0.1:0") == "");
  CHECK(nameserver_csv_entry("127.0.0.1:99999") == "");
  CHECK(nameserver_csv_entry("127.0.0.1:53,8.8.8.8") == "");
  CHECK(nameserver_csv_entry("[::1]x") == "");
}

} // namespace test_unit_dns_mx_test
