// Migrations against a real PostgreSQL: applied once, idempotent, safe to race, upgrades.
#include <doctest/doctest.h>

#include <exception>
#include <thread>

#include "pg.hpp"
#include "store/migrations_data.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_store_migrate_test {

using namespace iaposte;
using namespace iaposte::testing;

TEST_CASE("PostgreSQL: migrate applies every compiled-in migration once; a second run is a no-op") {
  test_database db;
  const auto names = store::migration_names();
  REQUIRE_FALSE(names.empty());
  CHECK(names.front() == "0001_messages");

  store::store s(store_config_for(db));
  s.migrate();
  const auto applied = db.count("SELECT count(*) FROM schema_migrations");
  CHECK(applied == static_cast<long long>(names.size()));
  const std::string first_at =
      db.query("SELECT max(applied_at)::text FROM schema_migrations")[0][0].c_str();

  s.migrate();
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == applied);
  CHECK(db.query("SELECT max(applied_at)::text FROM schema_migrations")[0][0].c_str() == first_at);
  CHECK(db.count("SELECT count(*) FROM messages") == 0);
}

TEST_CASE("PostgreSQL: two instances migrating at the same time both succeed") {
  test_database db;
  std::exception_ptr errors[2];
  std::thread threads[2];
  for (int i = 0; i < 2; ++i)
    threads[i] = std::thread([&, i] {
      try {
        store::store s(store_config_for(db));
        s.migrate();
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  for (auto& t : threads)
    t.join();
  for (auto& e : errors) {
    try {
      if (e) std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      FAIL("migrate failed: " << ex.what());
    }
  }
  CHECK(db.count("SELECT count(*) FROM schema_migrations") ==
        static_cast<long long>(store::migration_names().size()));
}

TEST_CASE("PostgreSQL: upgrading to 0002, requests that had ended count as published") {
  test_database db;
  // The schema as 0001 left it, with the bookkeeping the migrator writes.
  const auto& all = store::detail::compiled_migrations();
  REQUIRE(all.size() >= 2);
  REQUIRE(all[0].name == "0001_messages");
  db.query("CREATE TABLE schema_migrations (version text PRIMARY KEY, name text NOT NULL, "
           "applied_at timestamptz NOT NULL DEFAULT now())");
  db.query(all[0].sql);
  db.query("INSERT INTO schema_migrations (version, name) VALUES ('0001', 'messages')");
  db.query("INSERT INTO messages (tenant, request_id, state, owner, lease_until) VALUES "
           "('acme', 'old-sent', 'sent', 'old', NULL), "
           "('acme', 'old-deferred', 'deferred', 'old', now() - interval '1 hour')");

  store::store s(store_config_for(db));
  s.migrate();
  CHECK(s.find("acme", "old-sent")->published);
  CHECK_FALSE(s.find("acme", "old-deferred")->published);
  s.start();
  const auto sent = claim_now(s, "acme", "old-sent", "content");
  CHECK(sent.kind == store::claim_result::kind::terminal);
  CHECK(sent.published);
  const auto deferred = claim_now(s, "acme", "old-deferred", "content");
  CHECK(deferred.kind == store::claim_result::kind::resumed); // the old lease expired
  CHECK(deferred.content == "content");                       // stored now
}

TEST_CASE("PostgreSQL: upgrading to 0008, each request's message_events become its history, in "
          "order, and the table goes") {
  test_database db;
  const auto& all = store::detail::compiled_migrations();
  REQUIRE(all.size() >= 8);
  REQUIRE(all[7].name == "0008_history_in_row");
  db.query("CREATE TABLE schema_migrations (version text PRIMARY KEY, name text NOT NULL, "
           "applied_at timestamptz NOT NULL DEFAULT now())");
  for (std::size_t i = 0; i < 7; ++i) {
    db.query(all[i].sql);
    db.query("INSERT INTO schema_migrations (version, name) VALUES ('" + all[i].name.substr(0, 4) +
             "', '" + all[i].name.substr(5) + "')");
  }
  db.query("INSERT INTO messages (tenant, request_id, state, message_id) VALUES "
           "('acme', 'two', 'sent', '<two@x>'), ('acme', 'none', 'accepted', NULL)");
  // Written out of time order on purpose: the history keeps the order of insertion (id).
  db.query("INSERT INTO message_events (op_id, tenant, request_id, status, attempt, message_id, "
           "smtp_code, smtp_enhanced, smtp_text, reason, at) VALUES "
           "(gen_random_uuid(), 'acme', 'two', 'deferred', 1, '<two@x>', 451, '4.7.1', 'later', "
           " 'greylisted', '2026-01-01T10:00:00Z'), "
           "(gen_random_uuid(), 'acme', 'two', 'sent', 2, '<other@x>', 250, NULL, 'ok', NULL, "
           " '2026-01-01T09:00:00Z')");

  store::store s(store_config_for(db));
  s.migrate();
  CHECK(db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'message_events'") == 0);
  const auto h = s.history("acme", "two");
  REQUIRE(h.size() == 2);
  CHECK(h[0].status == core::status::deferred);
  CHECK(h[0].attempt == 1);
  CHECK(h[0].message_id == "<two@x>");
  REQUIRE(h[0].smtp);
  CHECK(h[0].smtp->code == 451);
  CHECK(h[0].smtp->enhanced == "4.7.1");
  CHECK(h[0].smtp->text == "later");
  CHECK(h[0].reason == "greylisted");
  CHECK(h[1].status == core::status::sent);
  CHECK(h[1].message_id == "<other@x>"); // not the row's: kept in the event
  REQUIRE(h[1].smtp);
  CHECK(h[1].smtp->enhanced.empty());
  CHECK(h[1].reason.empty());
  CHECK(h[0].at > h[1].at);
  // The row's own id is not repeated in its events.
  CHECK(db.count("SELECT count(*) FROM messages, jsonb_array_elements(history) e "
                 "WHERE e ? 'message_id'") == 1);
  CHECK(s.history("acme", "none").empty());
}

} // namespace test_integration_store_migrate_test
