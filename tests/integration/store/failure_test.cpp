// The store when PostgreSQL fails: unreachable, connection killed, one operation refused.
#include <doctest/doctest.h>

#include <string>

#include "pg.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_store_failure_test {

using namespace iaposte;
using namespace iaposte::testing;

TEST_CASE("PostgreSQL unreachable: migrate() says where it tried and why, never the password") {
  const int port = free_port();
  const std::string password = "S3cret-Pa55word";
  for (const std::string& url :
       {"postgresql://iaposte:" + password + "@127.0.0.1:" + std::to_string(port) + "/iaposte",
        "host=127.0.0.1 port=" + std::to_string(port) + " user=iaposte password=" + password}) {
    CAPTURE(port);
    store::store_config cfg;
    cfg.url = url;
    store::store s(cfg);
    std::string what;
    try {
      s.migrate();
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    CAPTURE(what);
    CHECK(what.find("cannot connect to PostgreSQL at 127.0.0.1:" + std::to_string(port) + ": ") ==
          0);
    CHECK(what.find("refused") != std::string::npos);
    CHECK(what.find(password) == std::string::npos);
    CHECK_THROWS_AS(s.find("acme", "r-1"), std::runtime_error);
  }
  store::store_config cfg;
  cfg.url = "postgresql://iaposte:" + password + "@127.0.0.1:notaport/x";
  store::store s(cfg);
  try {
    s.migrate();
    FAIL("migrate() succeeded on an invalid URL");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find(password) == std::string::npos);
  }
}

TEST_CASE(
    "PostgreSQL unreachable: operations wait, healthy() is false, stop() keeps its deadline") {
  store::store_config cfg;
  cfg.url = "postgresql://iaposte@127.0.0.1:" + std::to_string(free_port()) + "/iaposte";
  cfg.retry_interval = 50ms;
  store::store s(cfg);
  completions done;
  s.claim({"acme", "r-1", "", "", "", 1, ""}, [&](store::claim_result) { done.add(); });
  s.start();
  CHECK(eventually([&] { return s.connection_failures() >= 3; }, 5s));
  CHECK_FALSE(s.healthy());
  CHECK(s.pending() == 1);
  const auto before = std::chrono::steady_clock::now();
  s.stop(200ms);
  CHECK(std::chrono::steady_clock::now() - before < 2s);
  CHECK(done.count() == 0); // never completed without being written
}

TEST_CASE("PostgreSQL connection killed mid-run: the store reconnects and queued operations "
          "complete") {
  test_database db;
  store::store s(store_config_for(db)); // retry_interval 100 ms
  s.migrate();
  s.start();
  REQUIRE(claim_now(s, "acme", "before").kind == store::claim_result::kind::fresh);
  REQUIRE(s.healthy());

  REQUIRE(eventually([&] { return s.heartbeats() >= 1; }, 5s)); // its connection is open
  // The other sessions on this database: the worker's connection and the heartbeat's.
  CHECK(db.count("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE datname = current_database() AND pid <> pg_backend_pid()) t") == 2);

  constexpr int n = 200;
  completions done;
  bool saw_unhealthy = false;
  for (int i = 0; i < n; ++i) {
    s.claim({"acme", "r-" + std::to_string(i), "", "", "", 1, ""},
            [&](store::claim_result) { done.add(); });
    s.record(event("acme", "r-" + std::to_string(i), core::status::sent, 1), [&] { done.add(); });
  }
  CHECK(eventually(
      [&] {
        saw_unhealthy = saw_unhealthy || !s.healthy();
        return done.count() == 2 * n;
      },
      15s));
  CHECK(saw_unhealthy);
  CHECK(s.connection_failures() >= 1);
  CHECK(s.healthy());
  CHECK(db.count("SELECT count(*) FROM messages WHERE state = 'sent'") == n);
  // no event written twice (a batch retried after a lost commit finds its events there)
  CHECK(db.count("SELECT sum(jsonb_array_length(history)) FROM messages") == n);
}

TEST_CASE("PostgreSQL rejecting one operation: it is parked without blocking the others, and "
          "written once the cause is fixed") {
  test_database db;
  store::store s(store_config_for(db));
  s.migrate();
  // A fault only this request meets, as a bug or a constraint would.
  db.query(R"sql(
    CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.request_id = 'poison' THEN RAISE EXCEPTION 'refused for the test'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON messages
      FOR EACH ROW EXECUTE FUNCTION refuse_poison();
  )sql");

  completions healthy_ops, poison_ops;
  s.record(event("acme", "ok-1", core::status::sent, 1), [&] { healthy_ops.add(); });
  s.record(event("acme", "poison", core::status::deferred, 1), [&] { poison_ops.add(); });
  s.record(event("acme", "ok-2", core::status::sent, 1), [&] { healthy_ops.add(); });
  s.record(event("acme", "poison", core::status::sent, 2), [&] { poison_ops.add(); });
  s.start();
  REQUIRE(healthy_ops.wait_for(2, 10s));
  CHECK(eventually([&] { return s.parked() == 2; }, 5s)); // the second waits behind the first
  CHECK(poison_ops.count() == 0);
  CHECK_FALSE(s.find("acme", "poison"));

  db.query("DROP TRIGGER refuse_poison ON messages");
  REQUIRE(poison_ops.wait_for(2, 10s));
  CHECK(s.parked() == 0);
  const auto row = s.find("acme", "poison");
  REQUIRE(row);
  CHECK(row->state == "sent");
  const auto h = s.history("acme", "poison");
  REQUIRE(h.size() == 2);
  CHECK(h[0].status == core::status::deferred);
  CHECK(h[1].status == core::status::sent);
}

} // namespace test_integration_store_failure_test
