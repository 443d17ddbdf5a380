// The envelope written for one server (intl::for_server), without sockets: U-labels or A-labels,
// refusals with 5.6.7 in the caller's order.
#include <doctest/doctest.h>

#include "smtp/intl.hpp"
#include "smtp/protocol.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_intl_test {

using namespace iaposte::smtp;

TEST_CASE("an all-ASCII envelope needs no plan; any non-ASCII address does") {
  CHECK_FALSE(intl::needed({"a@example.com", {"b@example.net", "c@xn--t-9fab.fr"}}));
  CHECK(intl::needed({"a@example.com", {"b@example.net", "c@été.fr"}}));
  CHECK(intl::needed({"équipe@example.com", {"b@example.net"}}));
}

TEST_CASE("with SMTPUTF8 every address goes as given, and the parameter with it") {
  envelope env{"équipe@exemple-été.fr", {"hélène@exemple.fr", "bob@été.fr"}};
  auto p = intl::for_server(env, true);
  CHECK_FALSE(p.failure);
  CHECK(p.smtputf8);
  CHECK(p.wire.mail_from == env.mail_from);
  CHECK(p.wire.rcpt_to == env.rcpt_to);
  CHECK(p.names == env.rcpt_to);
}

TEST_CASE("without SMTPUTF8: A-labels, and UTF-8 local parts refused in place") {
  envelope env{"", {"hélène@exemple.fr", "bob@Exemple-ÉTÉ.fr", "c@example.net", "用户@例子.广告"}};
  auto p = intl::for_server(env, false);
  CHECK_FALSE(p.failure);
  CHECK_FALSE(p.smtputf8);
  CHECK(p.wire.mail_from.empty()); // the null reverse-path
  CHECK(p.wire.rcpt_to == std::vector<std::string>{"bob@xn--exemple-t-i4ab.fr", "c@example.net"});
  CHECK(p.names == std::vector<std::string>{"bob@Exemple-ÉTÉ.fr", "c@example.net"});
  REQUIRE(p.refused.size() == 4);
  REQUIRE(p.refused[0]);
  CHECK(p.refused[0]->address == "hélène@exemple.fr");
  CHECK(p.refused[0]->kind == outcome_kind::permanent);
  CHECK(p.refused[0]->last.enhanced == "5.6.7");
  CHECK_FALSE(p.refused[1]);
  CHECK_FALSE(p.refused[2]);
  CHECK(p.refused[3]);

  // The server's results for the wire recipients, merged back in the caller's order.
  outcome o;
  o.kind = outcome_kind::sent;
  o.recipients = {{"bob@Exemple-ÉTÉ.fr", outcome_kind::sent, {}},
                  {"c@example.net", outcome_kind::transient, {451, "4.3.0", {"later"}}}};
  intl::merge(o, p);
  REQUIRE(o.recipients.size() == 4);
  CHECK(o.recipients[0].address == "hélène@exemple.fr");
  CHECK(o.recipients[0].last.enhanced == "5.6.7");
  CHECK(o.recipients[1].address == "bob@Exemple-ÉTÉ.fr");
  CHECK(o.recipients[2].kind == outcome_kind::transient);
  CHECK(o.recipients[3].address == "用户@例子.广告");
  CHECK(o.partial());
}

TEST_CASE("without SMTPUTF8, the sender decides for the whole message") {
  auto p = intl::for_server({"équipe@exemple.fr", {"a@example.net"}}, false);
  REQUIRE(p.failure);
  CHECK(p.failure->kind == outcome_kind::permanent);
  CHECK(p.failure->last.enhanced == "5.6.7");
  // An IDN sender domain is written in A-labels.
  auto q = intl::for_server({"contact@exemple-été.fr", {"a@example.net"}}, false);
  CHECK_FALSE(q.failure);
  CHECK(q.wire.mail_from == "contact@xn--exemple-t-i4ab.fr");
}

TEST_CASE("a domain with no A-label form is refused with a bad-address code, not 5.6.7") {
  auto p = intl::for_server({"a@example.com", {"x@☃.net", "y@example.net"}}, false);
  REQUIRE(p.refused[0]);
  CHECK(p.refused[0]->last.enhanced == "5.1.3");
  CHECK(p.wire.rcpt_to == std::vector<std::string>{"y@example.net"});
  auto q = intl::for_server({"a@☃.net", {"y@example.net"}}, false);
  REQUIRE(q.failure);
  CHECK(q.failure->last.enhanced == "5.1.7");
  CHECK(q.failure->error.find("the domain has no A-label form") != std::string::npos);
}

TEST_CASE("every recipient refused: the message takes the first refusal") {
  auto p = intl::for_server({"a@example.com", {"é@x.fr", "ü@y.de"}}, false);
  CHECK(p.wire.rcpt_to.empty());
  auto o = intl::all_refused(p);
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.last.enhanced == "5.6.7");
  intl::merge(o, p);
  REQUIRE(o.recipients.size() == 2);
  CHECK(o.recipients[1].address == "ü@y.de");
}

TEST_CASE("header_block stops at the first empty line") {
  CHECK(protocol::header_block("To: a\r\nX: é\r\n\r\nbody é") == "To: a\r\nX: é");
  CHECK(protocol::header_block("To: a\n\nbody") == "To: a");
  CHECK(protocol::header_block("no body") == "no body");
}

} // namespace test_unit_smtp_intl_test
