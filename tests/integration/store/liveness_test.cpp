// Instance heartbeats on real PostgreSQL: the claims of an owner that stopped beating are
// taken over at once, a live owner keeps them, a clean stop hands them over, and an instance
// whose own heartbeat is stale knows it must not send (issue 11).
#include <doctest/doctest.h>

#include <memory>

#include "pg.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_store_liveness_test {

using namespace iaposte;
using namespace iaposte::testing;
using namespace std::chrono_literals;
using kind = decltype(store::claim_result::kind);

namespace {

std::unique_ptr<store::store> beating_store(const test_database& db, const std::string& owner) {
  auto cfg = store_config_for(db);
  cfg.owner = owner;
  cfg.heartbeat_interval = 100ms;
  cfg.owner_dead_after = 1000ms;
  return std::make_unique<store::store>(cfg);
}

// A request held by `owner` with a lease of ten minutes.
void held_by(const test_database& db, const std::string& request_id, const std::string& owner) {
  db.query("INSERT INTO messages (tenant, request_id, state, owner, lease_until) VALUES "
           "('acme', '" +
           request_id + "', 'accepted', '" + owner + "', now() + interval '600 s')");
}

} // namespace

TEST_CASE("PostgreSQL: a claim whose owner stopped beating is taken over at once; a beating "
          "owner's claim stays busy") {
  test_database db;
  auto s = beating_store(db, "survivor");
  s->migrate();
  s->start();
  REQUIRE(eventually([&] { return s->heartbeats() >= 2; }, 5s));
  CHECK(db.count("SELECT count(*) FROM instances WHERE id = 'survivor'") == 1);

  db.query("INSERT INTO instances (id, heartbeat_at) VALUES ('alive', now()), "
           "('dead', now() - interval '1 hour')");
  held_by(db, "r-alive", "alive");
  held_by(db, "r-dead", "dead");
  held_by(db, "r-unknown", "no-heartbeat-row"); // an older daemon: the lease rules

  REQUIRE(eventually([&] { return s->heartbeats() >= 4; }, 5s)); // the dead list is read
  CHECK(claim_now(*s, "acme", "r-alive").kind == kind::busy);
  CHECK(claim_now(*s, "acme", "r-unknown").kind == kind::busy);
  const auto taken = claim_now(*s, "acme", "r-dead");
  CHECK(taken.kind == kind::resumed);
  CHECK(db.count("SELECT count(*) FROM messages WHERE request_id = 'r-dead' AND "
                 "owner = 'survivor'") == 1);

  // "alive" stops beating: after owner_dead_after its claim is taken over too.
  CHECK(eventually([&] { return claim_now(*s, "acme", "r-alive").kind == kind::resumed; }, 5s));
}

TEST_CASE("PostgreSQL: a clean stop marks the instance dead, so what it still held is taken "
          "over without waiting") {
  test_database db;
  auto a = beating_store(db, "a");
  auto b = beating_store(db, "b");
  a->migrate();
  a->start();
  b->start();
  CHECK(claim_now(*a, "acme", "r-1").kind == kind::fresh);
  CHECK(claim_now(*b, "acme", "r-1").kind == kind::busy);
  a->stop();
  CHECK(db.count("SELECT count(*) FROM instances WHERE id = 'a' AND "
                 "heartbeat_at = '-infinity'") == 1);
  CHECK(eventually([&] { return claim_now(*b, "acme", "r-1").kind == kind::resumed; }, 3s));
}

TEST_CASE("PostgreSQL unreachable for the heartbeat: leases_safe turns false after half of "
          "owner_dead_after") {
  test_database db;
  auto cfg = store_config_for(db);
  cfg.url = with_dbname(db.url(), "does_not_exist");
  cfg.heartbeat_interval = 100ms;
  cfg.owner_dead_after = 1000ms;
  store::store s(cfg);
  s.start();
  CHECK(s.leases_safe()); // nobody can take it over before its first heartbeat is due
  CHECK(eventually([&] { return !s.leases_safe(); }, 3s));
  CHECK(s.heartbeats() == 0);

  cfg.owner_dead_after = 0ms; // liveness off: only the leases
  store::store off(cfg);
  off.start();
  std::this_thread::sleep_for(700ms);
  CHECK(off.leases_safe());
}

} // namespace test_integration_store_liveness_test
