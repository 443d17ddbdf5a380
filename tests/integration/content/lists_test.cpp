// Signatures and the suppression list in PostgreSQL through content_store: per sender with a
// tenant default, and which reason stops which category of mail on which list.
#include <doctest/doctest.h>

#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_content_lists_test {

using namespace iaposte;
using namespace iaposte::testing;
using store::mail_category;
using store::suppression_reason;

namespace {

store::suppression entry(const std::string& address, suppression_reason reason,
                         const std::string& list = "") {
  store::suppression s;
  s.tenant = "acme";
  s.address = address;
  s.reason = reason;
  s.list = list;
  return s;
}

bool stopped(store::content_store& s, const std::string& address, mail_category c,
             const std::string& list = "") {
  return s.is_suppressed("acme", address, c, list).has_value();
}

} // namespace

TEST_CASE("signatures: one per sender (domain case-insensitive), replaced on set, with the "
          "tenant's default as fallback") {
  content_database db;
  store::content_store s(db.url());
  CHECK_FALSE(s.get_signature("acme", "ventes@acme.fr", true));
  s.set_signature({"acme", "Ventes@ACME.fr", "<p>L'équipe ventes</p>", "L'équipe ventes", {}});
  auto sig = s.get_signature("acme", "Ventes@acme.FR");
  REQUIRE(sig);
  CHECK(sig->sender == "Ventes@acme.fr");
  CHECK(sig->html == "<p>L'équipe ventes</p>");
  CHECK_FALSE(s.get_signature("acme", "ventes@acme.fr")); // local part differs

  s.set_signature({"acme", "Ventes@acme.fr", "", "Nouvelle signature", {}});
  sig = s.get_signature("acme", "Ventes@acme.fr");
  REQUIRE(sig);
  CHECK(sig->html == "");
  CHECK(sig->text == "Nouvelle signature");
  CHECK(db.count("SELECT count(*) FROM signatures") == 1);

  s.set_signature({"acme", "", "<p>Acme</p>", "Acme", {}});
  CHECK_FALSE(s.get_signature("acme", "autre@acme.fr"));
  sig = s.get_signature("acme", "autre@acme.fr", true);
  REQUIRE(sig);
  CHECK(sig->sender == "");
  CHECK(sig->text == "Acme");
  CHECK(s.get_signature("acme", "Ventes@acme.fr", true)->text == "Nouvelle signature");
  CHECK_FALSE(s.get_signature("globex", "autre@acme.fr", true));

  CHECK_THROWS_AS(s.set_signature({"acme", "pas une adresse", "x", "x", {}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(s.set_signature({"acme", "a@acme.fr", "", "", {}}), std::invalid_argument);
}

TEST_CASE("suppressions: marketing mail is stopped by every reason, transactional mail by all "
          "but unsubscribe") {
  content_database db;
  store::content_store s(db.url());
  s.add_suppression(entry("bounce@exemple.fr", suppression_reason::hard_bounce));
  s.add_suppression(entry("plainte@exemple.fr", suppression_reason::complaint));
  s.add_suppression(entry("desabo@exemple.fr", suppression_reason::unsubscribe));
  s.add_suppression(entry("manuel@exemple.fr", suppression_reason::manual));
  for (const char* a : {"bounce@exemple.fr", "plainte@exemple.fr", "manuel@exemple.fr"}) {
    CAPTURE(a);
    CHECK(stopped(s, a, mail_category::marketing));
    CHECK(stopped(s, a, mail_category::transactional));
  }
  CHECK(stopped(s, "desabo@exemple.fr", mail_category::marketing));
  CHECK_FALSE(stopped(s, "desabo@exemple.fr", mail_category::transactional));
  CHECK_FALSE(stopped(s, "libre@exemple.fr", mail_category::marketing));
  // The domain compares case-insensitively, the local part does not.
  CHECK(stopped(s, "bounce@EXEMPLE.FR", mail_category::transactional));
  CHECK_FALSE(stopped(s, "Bounce@exemple.fr", mail_category::transactional));
  // Another tenant's list is its own.
  CHECK_FALSE(s.is_suppressed("globex", "bounce@exemple.fr", mail_category::marketing));

  for (auto r : {suppression_reason::hard_bounce, suppression_reason::complaint,
                 suppression_reason::unsubscribe, suppression_reason::manual}) {
    CAPTURE(store::to_string(r));
    CHECK(store::stops(r, mail_category::marketing));
    CHECK(store::stops(r, mail_category::transactional) == (r != suppression_reason::unsubscribe));
  }
}

TEST_CASE("suppressions: an entry of a list stops only that list's mail; list '' stops every "
          "list") {
  content_database db;
  store::content_store s(db.url());
  s.add_suppression(entry("lecteur@exemple.fr", suppression_reason::unsubscribe, "newsletter"));
  CHECK(stopped(s, "lecteur@exemple.fr", mail_category::marketing, "newsletter"));
  CHECK_FALSE(stopped(s, "lecteur@exemple.fr", mail_category::marketing, "promotions"));
  CHECK_FALSE(stopped(s, "lecteur@exemple.fr", mail_category::marketing, ""));
  s.add_suppression(entry("lecteur@exemple.fr", suppression_reason::unsubscribe));
  CHECK(stopped(s, "lecteur@exemple.fr", mail_category::marketing, "promotions"));
  CHECK(db.count("SELECT count(*) FROM suppressions") == 2);
}

TEST_CASE("suppressions: adding again is idempotent; a reason that stops more mail replaces "
          "unsubscribe, never the other way") {
  content_database db;
  store::content_store s(db.url());
  auto first = entry("client@Exemple.FR", suppression_reason::unsubscribe);
  first.note = "lien de désabonnement";
  first.source_request_id = "req-1";
  const auto stored = s.add_suppression(first);
  CHECK(stored.address == "client@exemple.fr");
  CHECK(stored.reason == suppression_reason::unsubscribe);
  CHECK(stored.source_request_id == "req-1");
  const auto again = s.add_suppression(first);
  CHECK(again.since == stored.since);
  CHECK(db.count("SELECT count(*) FROM suppressions") == 1);

  auto bounce = entry("client@exemple.fr", suppression_reason::hard_bounce);
  bounce.source_request_id = "req-2";
  const auto stronger = s.add_suppression(bounce);
  CHECK(stronger.reason == suppression_reason::hard_bounce);
  CHECK(stronger.source_request_id == "req-2");
  CHECK(stronger.since == stored.since); // suppressed since the first entry
  CHECK(stopped(s, "client@exemple.fr", mail_category::transactional));

  const auto kept = s.add_suppression(entry("client@exemple.fr", suppression_reason::unsubscribe));
  CHECK(kept.reason == suppression_reason::hard_bounce);
  const auto kept2 = s.add_suppression(entry("client@exemple.fr", suppression_reason::manual));
  CHECK(kept2.reason == suppression_reason::hard_bounce);
  CHECK(db.count("SELECT count(*) FROM suppressions") == 1);
}

TEST_CASE("suppressions: removed per list (and reason when given), listed per reason in "
          "address order") {
  content_database db;
  store::content_store s(db.url());
  s.add_suppression(entry("b@exemple.fr", suppression_reason::unsubscribe));
  s.add_suppression(entry("a@exemple.fr", suppression_reason::hard_bounce));
  s.add_suppression(entry("a@exemple.fr", suppression_reason::unsubscribe, "newsletter"));
  auto all = s.list_suppressions("acme");
  REQUIRE(all.size() == 3);
  CHECK(all[0].address == "a@exemple.fr");
  CHECK(all[0].list == "");
  CHECK(all[1].list == "newsletter");
  CHECK(all[2].address == "b@exemple.fr");
  CHECK(s.list_suppressions("acme", suppression_reason::unsubscribe).size() == 2);
  CHECK(s.list_suppressions("acme", suppression_reason::complaint).empty());

  CHECK_FALSE(s.remove_suppression("acme", "a@exemple.fr", "", suppression_reason::unsubscribe));
  CHECK_FALSE(s.remove_suppression("acme", "A@exemple.fr", "newsletter")); // another mailbox
  CHECK(s.remove_suppression("acme", "a@EXEMPLE.fr", "newsletter"));
  CHECK_FALSE(s.remove_suppression("acme", "a@exemple.fr", "newsletter"));
  CHECK(s.remove_suppression("acme", "a@exemple.fr", "", suppression_reason::hard_bounce));
  CHECK(s.list_suppressions("acme").size() == 1);

  CHECK_THROWS_AS(s.add_suppression(entry("pas une adresse", suppression_reason::manual)),
                  std::invalid_argument);
  CHECK_THROWS_AS(s.add_suppression(entry("x@exemple.fr", suppression_reason::manual, "a\nb")),
                  std::invalid_argument);
}

} // namespace test_integration_content_lists_test
