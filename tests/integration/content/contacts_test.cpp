// Contacts in PostgreSQL through content_store: upsert, unique email with a case-insensitive
// domain, look-ups by id and email, tenants kept apart, deletion, refused input.
#include <doctest/doctest.h>

#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_content_contacts_test {

using namespace iaposte;
using namespace iaposte::testing;

namespace {

store::contact make(const std::string& tenant, const std::string& email, const std::string& name) {
  store::contact c;
  c.tenant = tenant;
  c.email = email;
  c.name = name;
  return c;
}

} // namespace

TEST_CASE("contacts: an upsert with the same email (domain in another case) updates the one "
          "contact; the local part keeps its case") {
  content_database db;
  store::content_store s(db.url());
  auto c = make("acme", "Helene.Dubois@Exemple.FR", "Hélène");
  c.company = "Boulangerie Dubois";
  c.locale = "fr_FR";
  c.attributes = {{"segment", "vip"}, {"visites", 3}};
  const auto first = s.upsert_contact(c);
  CHECK(first.id > 0);
  CHECK(first.locale == "fr-fr");
  CHECK(first.attributes["visites"] == 3);

  auto again = make("acme", "Helene.Dubois@exemple.fr", "Hélène D.");
  const auto second = s.upsert_contact(again);
  CHECK(second.id == first.id);
  CHECK(second.name == "Hélène D.");
  CHECK(second.email == "Helene.Dubois@exemple.fr"); // as last given
  CHECK(second.company == "");                       // an upsert replaces the whole contact
  CHECK(second.updated_at >= first.updated_at);
  CHECK(db.count("SELECT count(*) FROM contacts") == 1);

  // Another local-part case is another mailbox (RFC 5321 §2.4).
  const auto other = s.upsert_contact(make("acme", "helene.dubois@exemple.fr", "Other"));
  CHECK(other.id != first.id);
  CHECK(db.count("SELECT count(*) FROM contacts") == 2);
}

TEST_CASE("contacts: found by id or by email (any domain case), only within their tenant") {
  content_database db;
  store::content_store s(db.url());
  const auto a = s.upsert_contact(make("acme", "paul@exemple.fr", "Paul"));
  const auto b = s.upsert_contact(make("globex", "paul@exemple.fr", "Paul chez Globex"));
  CHECK(a.id != b.id);
  CHECK(s.find_contact("acme", a.id)->name == "Paul");
  CHECK(s.find_contact("acme", "paul@EXEMPLE.fr")->id == a.id);
  CHECK(s.find_contact("globex", "paul@exemple.fr")->id == b.id);
  CHECK_FALSE(s.find_contact("acme", b.id)); // another tenant's id
  CHECK_FALSE(s.find_contact("acme", "Paul@exemple.fr"));
  CHECK_FALSE(s.find_contact("acme", std::int64_t{999999}));

  CHECK_FALSE(s.delete_contact("acme", b.id));
  CHECK(s.delete_contact("acme", "PAUL@exemple.fr") == false); // local part differs
  CHECK(s.delete_contact("acme", "paul@Exemple.FR"));
  CHECK_FALSE(s.find_contact("acme", a.id));
  CHECK(s.delete_contact("globex", b.id));
  CHECK(db.count("SELECT count(*) FROM contacts") == 0);
}

TEST_CASE("contacts: invalid input is refused with a readable error and nothing is stored") {
  content_database db;
  store::content_store s(db.url());
  auto refuse = [&](store::contact c, const std::string& expected) {
    CAPTURE(expected);
    try {
      s.upsert_contact(c);
      FAIL("accepted");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find(expected) != std::string::npos);
    }
  };
  refuse(make("acme", "pas une adresse", "x"), "invalid email address 'pas une adresse'");
  refuse(make("acme", "", "x"), "invalid email address");
  refuse(make("ACME", "a@exemple.fr", "x"), "invalid tenant");
  refuse(make("acme", "a@exemple.fr", "caf\xe9"), "not valid UTF-8");
  auto c = make("acme", "a@exemple.fr", "x");
  c.locale = "pas une locale";
  refuse(c, "invalid locale");
  c.locale = "";
  c.attributes = {{"email", "x"}};
  refuse(c, "taken by a contact column");
  c.attributes = {{" padded", "x"}};
  refuse(c, "starts or ends with a space");
  c.attributes = nlohmann::json::array();
  refuse(c, "not a JSON object");
  CHECK(db.count("SELECT count(*) FROM contacts") == 0);
}

} // namespace test_integration_content_contacts_test
