// Intake never jams (issue 11), against the real stack: every record ends once, whatever it
// holds; an internal error ends its request after bounded retries; a request held by another
// instance waits without a slot and is taken over once that instance stops beating; a broken
// relay at start leaves a running daemon that is not ready and defers.
#include <doctest/doctest.h>

#include <signal.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include <pqxx/pqxx>

#include "harness.hpp"
#include "smtp/support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_daemon_intake_test {

using namespace iaposte::testing;
namespace smtp_test = iaposte::smtp::test;

namespace {

json request(const std::string& id, const std::string& to = "client@exemple.fr") {
  return {{"request_id", id},
          {"tenant", "acme"},
          {"from", "Service Client <contact@iaposte.test>"},
          {"to", json::array({to})},
          {"subject", "Votre commande {numero}"},
          {"text", "Bonjour, votre commande {numero} est expédiée."},
          {"variables", {{"numero", id}}},
          {"metadata", {{"crm_id", 42}}}};
}

// Events of each request_id, in order.
std::map<std::string, std::vector<json>> by_request(const std::vector<json>& events) {
  std::map<std::string, std::vector<json>> out;
  for (const auto& e : events)
    if (e.is_object()) out[e.value("request_id", "")].push_back(e);
  return out;
}

bool is_terminal(const json& e) {
  const std::string s = e.value("status", "");
  return !s.empty() && s != "accepted" && s != "deferred";
}

// Waits until /metrics shows nothing in flight and every partition's committed offset is its
// end offset: no record holds a slot or a partition's watermark.
void expect_nothing_held(const daemon_process& d, const scenario& sc) {
  const int port = admin_port(d);
  REQUIRE(port > 0);
  double in_flight = -1;
  std::map<int, partition_offsets> offsets;
  bool all_committed = false;
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < until) {
    in_flight = metric(http_get(port, "/metrics").body, "iaposte_in_flight");
    offsets = group_offsets(sc.group, sc.requests);
    all_committed = !offsets.empty();
    for (const auto& [p, o] : offsets)
      all_committed = all_committed && o.committed == o.end;
    if (in_flight == 0 && all_committed) break;
    std::this_thread::sleep_for(250ms);
  }
  CHECK(in_flight == 0);
  for (const auto& [p, o] : offsets)
    CHECK_MESSAGE(o.committed == o.end,
                  "partition " << p << ": committed " << o.committed << ", end " << o.end);
}

} // namespace

TEST_CASE("four records of invalid UTF-8 then valid requests, with max_in_flight 4: four "
          "rejected events naming the field, every valid request sent, nothing held") {
  scenario sc("utf8");
  sc.env["IAPOSTE_DELIVERY_MAX_IN_FLIGHT"] = "4";
  daemon_process d(sc.env);
  REQUIRE_MESSAGE(d.wait_log("daemon.ready", 60s), d.log());

  std::vector<raw_record> records;
  for (int i = 0; i < 4; ++i) {
    std::string id = sc.name + "-bad" + std::to_string(i);
    std::string raw = request(id).dump();
    // The subject becomes "Vot\xFF..." (raw bytes, as a foreign producer might send).
    raw.replace(raw.find("Votre commande"), 4, "Vot\xff");
    records.push_back({id, raw, 0});
  }
  records.push_back({sc.name + "-good0", request(sc.name + "-good0").dump(), 0});
  records.push_back({sc.name + "-good1", request(sc.name + "-good1").dump(), 1});
  produce_records(sc.requests, records);

  topic_reader status(sc.status);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 6; }, 60s);
  auto events = by_request(status.events());
  for (int i = 0; i < 4; ++i) {
    const auto& ev = events[sc.name + "-bad" + std::to_string(i)];
    REQUIRE(ev.size() == 1);
    CHECK(ev[0]["status"] == "rejected");
    CHECK(ev[0]["reason"] == "subject: not valid UTF-8 at byte 3");
  }
  for (const char* good : {"-good0", "-good1"}) {
    const auto& ev = events[sc.name + good];
    REQUIRE(!ev.empty());
    CHECK(ev.back()["status"] == "sent");
  }
  topic_reader dlq(sc.dlq);
  CHECK(dlq.until([](const auto& s) { return s.size() >= 4; }, 30s).size() == 4);
  expect_nothing_held(d, sc);
  CHECK(d.log().find("worker.bug") == std::string::npos);
}

TEST_CASE("an internal error is retried through the backoff, then the request ends failed with "
          "a DLQ copy, and the requests behind it go on") {
  scenario sc("internal");
  // Every handling of "<name>-boom" throws after its claim; "<name>-flaky" throws once.
  sc.env["IAPOSTE_FAILPOINTS"] =
      "worker.after_claim:" + sc.name + "-boom:0,worker.after_claim:" + sc.name + "-flaky:1";
  sc.env["IAPOSTE_DELIVERY_MAX_IN_FLIGHT"] = "2";
  sc.env["IAPOSTE_DELIVERY_INTERNAL_ERROR_ATTEMPTS"] = "3";
  sc.env["IAPOSTE_KAFKA_TOPIC_PARTITIONS"] = "1";
  daemon_process d(sc.env);
  REQUIRE_MESSAGE(d.wait_log("daemon.ready", 60s), d.log());

  std::vector<json> requests{request(sc.name + "-boom"), request(sc.name + "-flaky")};
  for (int i = 0; i < 6; ++i)
    requests.push_back(request(sc.name + "-ok" + std::to_string(i)));
  produce(sc.requests, requests);

  topic_reader status(sc.status);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 8; }, 60s);
  auto events = by_request(status.events());
  const auto& boom = events[sc.name + "-boom"];
  REQUIRE(!boom.empty());
  CHECK(boom.back()["status"] == "failed");
  CHECK(boom.back()["reason"] == "internal error: failpoint worker.after_claim");
  CHECK(boom.back()["metadata"]["crm_id"] == 42);
  const auto& flaky = events[sc.name + "-flaky"];
  REQUIRE(!flaky.empty());
  CHECK(flaky.back()["status"] == "sent");
  for (int i = 0; i < 6; ++i)
    CHECK(events[sc.name + "-ok" + std::to_string(i)].back()["status"] == "sent");
  // Exactly one terminal event each.
  for (const auto& [id, evs] : events)
    CHECK_MESSAGE(std::count_if(evs.begin(), evs.end(), is_terminal) == 1, id);
  CHECK(captured(sc.name + "-flaky").size() == 1);
  CHECK(captured(sc.name + "-boom").empty());

  topic_reader dlq(sc.dlq);
  auto copies = dlq.until([](const auto& s) { return !s.empty(); }, 30s);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].key == sc.name + "-boom");
  REQUIRE(copies[0].header("iaposte-reason"));
  CHECK(*copies[0].header("iaposte-reason") == "internal error: failpoint worker.after_claim");

  // Counters reach /metrics once a second.
  const int port = admin_port(d);
  double errors = -1;
  for (int i = 0; i < 20 && errors != 4; ++i) {
    errors = metric(http_get(port, "/metrics").body, "iaposte_internal_errors_total");
    if (errors != 4) std::this_thread::sleep_for(250ms);
  }
  CHECK(errors == 4);
  CHECK(d.log().find("\"request.internal_error\"") != std::string::npos);
  expect_nothing_held(d, sc);
}

TEST_CASE("a relay answering garbage at start: the daemon runs not ready, defers, and sends "
          "once the relay is back") {
  scenario sc("garbled");
  smtp_test::temp_dir dir;
  const std::uint16_t port = smtp_test::free_port();
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  auto hostile = std::make_unique<smtp_test::child_process>(
      std::vector<std::string>{"/usr/bin/python3", IAPOSTE_PEERS_DIR "/hostile_smtp.py", "--listen",
                               listen, "--log", (dir / "hostile.log").string(), "--mode",
                               "huge:ehlo"},
      dir / "hostile.out");
  hostile->wait_for_port(port);

  sc.env["SMTP_SERVER"] = "127.0.0.1";
  sc.env["SMTP_PORT"] = std::to_string(port);
  sc.env["IAPOSTE_RETRY_MAX_ATTEMPTS"] = "100";
  daemon_process d(sc.env);
  REQUIRE_MESSAGE(d.wait_log("daemon.ready", 60s), d.log());
  CHECK(d.log().find("\"smtp.unreachable_at_start\"") != std::string::npos);
  const int admin = admin_port(d);
  auto ready = http_get(admin, "/readyz");
  CHECK(ready.status == 503);
  CHECK(ready.body.find("smtp") != std::string::npos);

  const std::string id = sc.name + "-1";
  produce(sc.requests, {request(id, "client@exemple.fr")});
  topic_reader status(sc.status);
  status.until([](const auto& seen) { return count_status(seen, "deferred") >= 1; }, 30s);
  CHECK(count_status(status.until([](auto&) { return true; }, 0ms), "deferred") >= 1);
  CHECK(terminal_ids(status.until([](auto&) { return true; }, 0ms)).empty());

  // The relay recovers on the same port: a real capture server.
  hostile.reset();
  smtp_test::child_process capture({"/usr/bin/python3", IAPOSTE_PEERS_DIR "/smtp_capture.py",
                                    "--listen", listen, "--maildir", (dir / "maildir").string()},
                                   dir / "capture.out");
  capture.wait_for_port(port);
  status.until([&](const auto& seen) { return terminal_ids(seen).count(id) > 0; }, 30s);
  auto events = by_request(status.events());
  REQUIRE(!events[id].empty());
  CHECK(events[id].back()["status"] == "sent");
  // Ready again without waiting for deliveries (the relay is probed again every 5 s).
  bool ready_again = false;
  for (int i = 0; i < 40 && !ready_again; ++i) {
    ready_again = http_get(admin, "/readyz").status == 200;
    if (!ready_again) std::this_thread::sleep_for(250ms);
  }
  CHECK(ready_again);
}

TEST_CASE("a configuration error that would defer every request exits 2 at start") {
  scenario sc("badtls");
  sc.env["IAPOSTE_SMTP_TLS"] = "required";
  sc.env["IAPOSTE_SMTP_CA_FILE"] = "/nonexistent/ca.pem";
  daemon_process d(sc.env);
  CHECK(d.wait_exit(60s) == 2);
  CHECK(d.log().find("/nonexistent/ca.pem") != std::string::npos);
}

TEST_CASE("requests held by another live instance wait without a slot, and are taken over as "
          "soon as that instance stops beating, long before its lease ends") {
  scenario sc("ghost");
  sc.env["IAPOSTE_DELIVERY_MAX_IN_FLIGHT"] = "4";
  sc.env["IAPOSTE_KAFKA_TOPIC_PARTITIONS"] = "1";
  sc.env["IAPOSTE_DELIVERY_HEARTBEAT_MS"] = "500";
  sc.env["IAPOSTE_DELIVERY_OWNER_DEAD_AFTER_MS"] = "3000";
  sc.env["IAPOSTE_DAEMON_INSTANCE_ID"] = sc.name + "-survivor";
  daemon_process d(sc.env);
  REQUIRE_MESSAGE(d.wait_log("daemon.ready", 60s), d.log()); // migrations applied

  // Another instance ("ghost") holds six requests with a 300 s lease and keeps beating.
  const std::string ghost = sc.name + "-ghost";
  pqxx::connection pg(stack_value("DATABASE_URL"));
  std::vector<json> held, free_ones;
  {
    pqxx::work w(pg);
    w.exec_params("INSERT INTO instances (id) VALUES ($1)", ghost);
    for (int i = 0; i < 6; ++i) {
      held.push_back(request(sc.name + "-held" + std::to_string(i)));
      w.exec_params("INSERT INTO messages (tenant, request_id, state, owner, lease_until) "
                    "VALUES ('acme', $1, 'accepted', $2, now() + interval '300 s')",
                    sc.name + "-held" + std::to_string(i), ghost);
    }
    w.commit();
  }
  std::atomic<bool> beating{true};
  std::thread heart([&] {
    pqxx::connection c(stack_value("DATABASE_URL"));
    while (beating) {
      pqxx::nontransaction n(c);
      n.exec_params("UPDATE instances SET heartbeat_at = now() WHERE id = $1", ghost);
      std::this_thread::sleep_for(200ms);
    }
  });
  struct stop_heart {
    std::atomic<bool>& b;
    std::thread& t;
    ~stop_heart() {
      b = false;
      if (t.joinable()) t.join();
    }
  } stopper{beating, heart};

  for (int i = 0; i < 6; ++i)
    free_ones.push_back(request(sc.name + "-free" + std::to_string(i)));
  std::vector<json> all = held;
  all.insert(all.end(), free_ones.begin(), free_ones.end());
  produce(sc.requests, all);

  // The six behind them go out although the held ones outnumber max_in_flight.
  topic_reader status(sc.status);
  auto seen = status.until(
      [&](const auto& s) {
        auto t = terminal_ids(s);
        return std::all_of(free_ones.begin(), free_ones.end(), [&](const json& r) {
          return t.count(r["request_id"].get<std::string>()) > 0;
        });
      },
      60s);
  auto t = terminal_ids(seen);
  for (const auto& r : free_ones)
    CHECK(t.count(r["request_id"].get<std::string>()) == 1);
  for (const auto& r : held)
    CHECK(t.count(r["request_id"].get<std::string>()) == 0);
  CHECK(d.log().find("\"request.busy\"") != std::string::npos);

  // The ghost stops beating: its requests are taken over after owner_dead_after, not 300 s.
  beating = false;
  heart.join();
  const auto stopped = std::chrono::steady_clock::now();
  seen = status.until([](const auto& s) { return terminal_ids(s).size() >= 12; }, 60s);
  const auto took = std::chrono::steady_clock::now() - stopped;
  auto events = by_request(status.events());
  for (const auto& r : held) {
    const auto& ev = events[r["request_id"].get<std::string>()];
    REQUIRE(!ev.empty());
    CHECK(ev.back()["status"] == "sent");
  }
  MESSAGE("taken over " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                        << " ms after the ghost's last heartbeat");
  CHECK(took < 30s);
  expect_nothing_held(d, sc);
}

} // namespace test_integration_daemon_intake_test
