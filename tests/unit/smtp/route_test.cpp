// Routing decisions without sockets: grouping by domain, MX targets, when to try the next MX.
#include <doctest/doctest.h>

#include <boost/asio/error.hpp>

#include "smtp/outcome.hpp"
#include "smtp/route.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_route_test {

using namespace iaposte::smtp;
using namespace iaposte;

TEST_CASE("recipients are grouped by lower-cased domain, in envelope order") {
  auto g = route::group_by_domain(
      {"a@Example.com", "b@other.test", "c@example.COM", "d@[127.0.0.1]", "nodomain"});
  REQUIRE(g.size() == 4);
  CHECK(g[0].domain == "example.com");
  CHECK(g[0].recipients == std::vector<std::string>{"a@Example.com", "c@example.COM"});
  CHECK(g[1].domain == "other.test");
  CHECK(g[2].domain == "[127.0.0.1]");
  CHECK(g[3].domain == "");
  CHECK(route::recipient_domain("\"odd@local\"@Host.Test.") == "host.test");
}

TEST_CASE("an internationalised domain is grouped and looked up in A-labels, whatever its "
          "spelling") {
  auto g = route::group_by_domain(
      {"hélène@exemple-été.fr", "bob@XN--EXEMPLE-T-I4AB.fr", "c@Exemple-ÉTÉ.fr", "d@☃.net"});
  REQUIRE(g.size() == 2);
  CHECK(g[0].domain == "xn--exemple-t-i4ab.fr");
  CHECK(g[0].recipients == std::vector<std::string>{"hélène@exemple-été.fr",
                                                    "bob@XN--EXEMPLE-T-I4AB.fr",
                                                    "c@Exemple-ÉTÉ.fr"});
  CHECK(g[1].domain == "☃.net"); // no A-label form: kept, and its lookup fails
}

TEST_CASE("address literals give their address; anything else is not a literal") {
  CHECK(route::address_literal("[192.0.2.1]") == "192.0.2.1");
  CHECK(route::address_literal("[IPv6:2001:db8::1]") == "2001:db8::1");
  CHECK_FALSE(route::address_literal("[2001:db8::1]"));
  CHECK_FALSE(route::address_literal("[example.com]"));
  CHECK_FALSE(route::address_literal("example.com"));
  CHECK_FALSE(route::address_literal("[]"));
}

TEST_CASE("targets list every address of every host in MX order, up to the limit") {
  dns::mx_result mx;
  mx.status = dns::status::ok;
  mx.hosts = {{"a", 10, {"192.0.2.1", "2001:db8::1"}, {}}, {"b", 20, {"192.0.2.2"}, {}}};
  auto t = route::targets(mx, 5);
  REQUIRE(t.size() == 3);
  CHECK(t[0].host == "a");
  CHECK(t[1].address == "2001:db8::1");
  CHECK(t[2].host == "b");
  CHECK(route::targets(mx, 2).size() == 2);
}

TEST_CASE("per-destination settings: exact domain, then the nearest .parent, then the default") {
  std::map<std::string, tls_mode, std::less<>> m{{"example.com", tls_mode::required},
                                                 {".example.com", tls_mode::none},
                                                 {".com", tls_mode::opportunistic}};
  CHECK(route::lookup(m, "example.com", tls_mode::implicit) == tls_mode::required);
  CHECK(route::lookup(m, "mx.example.com", tls_mode::implicit) == tls_mode::none);
  CHECK(route::lookup(m, "other.com", tls_mode::implicit) == tls_mode::opportunistic);
  CHECK(route::lookup(m, "other.org", tls_mode::implicit) == tls_mode::implicit);
}

// try_next_host() reads the outcome's phase, scope, kind and reply, never its wording.
TEST_CASE("the next MX is tried after a failure to connect or a 4xx before MAIL") {
  namespace ae = boost::asio::error;
  CHECK(route::try_next_host(classify::local_transient("any words", phase::connect)));
  CHECK(route::try_next_host(classify::local_transient("any words", phase::resolve)));
  CHECK(route::try_next_host(classify::local_transient("any words", phase::tls)));
  CHECK(route::try_next_host(classify::timeout_reading(phase::greeting)));
  CHECK(route::try_next_host(classify::read_error(phase::greeting, ae::eof)));
  CHECK(route::try_next_host(classify::malformed(phase::greeting, "bad code")));
  CHECK(route::try_next_host(classify::rejected(phase::greeting, reply{421, "4.3.2", {"busy"}})));
  CHECK(route::try_next_host(classify::rejected(phase::ehlo, reply{421, "", {"bye"}})));
  CHECK(route::try_next_host(classify::write_error(phase::helo, ae::broken_pipe)));
  CHECK(route::try_next_host(classify::rejected(phase::starttls, reply{454, "", {"no TLS"}})));
  CHECK(route::try_next_host(classify::local_permanent("not offered", phase::starttls)));
}

TEST_CASE("a 5xx greeting, AUTH, and anything from MAIL on, decide without another MX") {
  namespace ae = boost::asio::error;
  CHECK_FALSE(route::try_next_host(classify::rejected(phase::greeting, reply{554, "", {"go"}})));
  CHECK_FALSE(route::try_next_host(classify::rejected(phase::starttls, reply{554, "", {"no"}})));
  CHECK_FALSE(route::try_next_host(classify::rejected(phase::auth, reply{454, "", {"later"}})));
  CHECK_FALSE(route::try_next_host(classify::local_permanent("no mechanism", phase::auth)));
  CHECK_FALSE(route::try_next_host(classify::rejected(phase::mail, reply{451, "", {"later"}})));
  CHECK_FALSE(route::try_next_host(classify::rejected(phase::rcpt, reply{450, "", {"grey"}})));
  CHECK_FALSE(route::try_next_host(classify::rejected(phase::rcpt, reply{550, "", {"unknown"}})));
  // The message may have been delivered: trying another MX could send it twice.
  CHECK_FALSE(route::try_next_host(classify::timeout_reading(phase::dot)));
  CHECK_FALSE(route::try_next_host(classify::read_error(phase::dot, ae::eof)));
  CHECK_FALSE(route::try_next_host(classify::timeout_writing(phase::body)));
  CHECK_FALSE(route::try_next_host(classify::sent(reply{250, "", {"ok"}})));
  CHECK_FALSE(route::try_next_host(classify::local_permanent("no recipients")));
  CHECK_FALSE(route::try_next_host(classify::local_transient("cancelled waiting")));
}

TEST_CASE("every outcome carries its phase and scope; the words stay as before") {
  auto o = classify::rejected(phase::rcpt, reply{550, "5.1.1", {"no such user"}});
  CHECK(o.at == phase::rcpt);
  CHECK(o.scope == failure_scope::recipient);
  CHECK(o.error == "RCPT rejected: 550 no such user");
  o = classify::timeout_reading(phase::dot);
  CHECK(o.scope == failure_scope::message);
  CHECK(o.error == "timeout waiting for reply to end of data");
  o = classify::timeout_writing(phase::body);
  CHECK(o.error == "timeout sending message body");
  o = classify::timeout_reading(phase::greeting);
  CHECK(o.scope == failure_scope::site);
  CHECK(o.error == "timeout waiting for greeting");
  CHECK(classify::sent(reply{250, "", {"ok"}}).scope == failure_scope::none);
  CHECK(classify::needs_smtputf8("recipient", "\xc3\xa9@x.test").at == phase::rcpt);
  CHECK(classify::needs_smtputf8("sender", "\xc3\xa9@x.test").at == phase::mail);
  for (int p = 0; p <= static_cast<int>(phase::quit); ++p)
    CHECK(to_string(static_cast<phase>(p)) != "?");
}

} // namespace test_unit_smtp_route_test
