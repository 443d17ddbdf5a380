// Migration 0007 (stored content) against a real PostgreSQL: on a fresh database, on one that
// already holds messages, twice; and its address_key() agrees with lib/store's.
#include <doctest/doctest.h>

#include "store/migrations_data.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_content_migration_test {

using namespace iaposte;
using namespace iaposte::testing;

TEST_CASE("migration 0007 applies on a fresh database and creates the content tables") {
  test_database db;
  store::store_config cfg;
  cfg.url = db.url();
  store::store s(cfg);
  s.migrate();
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE version = '0007'") == 1);
  for (const char* table :
       {"templates", "template_versions", "contacts", "signatures", "suppressions"}) {
    CAPTURE(table);
    CHECK(db.count(std::string("SELECT count(*) FROM information_schema.tables WHERE "
                               "table_name = '") +
                   table + "'") == 1);
  }
  // Applying again changes nothing.
  s.migrate();
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE version = '0007'") == 1);
}

TEST_CASE("migration 0007 applies on a database that already holds messages, and keeps them") {
  test_database db;
  // The schema as it was before 0007, with a request in it.
  {
    pqxx::connection c(db.url());
    pqxx::work w(c);
    w.exec("CREATE TABLE schema_migrations (version text PRIMARY KEY, name text NOT NULL, "
           "applied_at timestamptz NOT NULL DEFAULT now())");
    for (const auto& m : store::detail::compiled_migrations()) {
      if (m.name >= "0007") break;
      w.exec(m.sql);
      w.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    m.name.substr(0, 4), m.name.substr(5));
    }
    w.exec("INSERT INTO messages (tenant, request_id, state) VALUES ('acme', 'r-1', 'sent')");
    w.commit();
  }
  REQUIRE(db.count("SELECT count(*) FROM information_schema.tables WHERE table_name = "
                   "'contacts'") == 0);
  store::store_config cfg;
  cfg.url = db.url();
  store::store s(cfg);
  s.migrate();
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE version = '0007'") == 1);
  CHECK(db.count("SELECT count(*) FROM messages WHERE request_id = 'r-1' AND state = 'sent'") == 1);
  store::content_store content(db.url());
  store::contact c;
  c.tenant = "acme";
  c.email = "a@exemple.fr";
  CHECK(content.upsert_contact(c).id > 0);
}

TEST_CASE("address_key in SQL and in C++ agree: local part kept, ASCII domain lower-cased") {
  content_database db;
  const std::vector<std::string> addresses = {"Jean.Dupont@Exemple.FR",
                                              "jean.dupont@exemple.fr",
                                              "UPPER@CASE.COM",
                                              "no-at-sign",
                                              "a@b@C.D",
                                              "x@[192.0.2.1]",
                                              "é@ÉCOLE.fr",
                                              ""};
  for (const auto& a : addresses) {
    CAPTURE(a);
    pqxx::connection c(db.url());
    pqxx::nontransaction n(c);
    CHECK(n.exec_params("SELECT address_key($1)", a)[0][0].as<std::string>() ==
          store::address_key(a));
  }
  CHECK(store::address_key("Jean.Dupont@Exemple.FR") == "Jean.Dupont@exemple.fr");
  CHECK(store::address_key("é@ÉCOLE.fr") == "é@École.fr"); // RFC 4343: ASCII only
}

} // namespace test_integration_content_migration_test
