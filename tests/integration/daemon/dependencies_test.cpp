// Dependencies going away while the daemon runs: PostgreSQL stopped, the Kafka broker
// restarted. Back-pressure and retry; nothing lost, nothing sent twice. These tests stop
// and start parts of the shared stack (scripts/stack), so they run serially.
#include <doctest/doctest.h>

#include <set>
#include <thread>

#include "harness.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_daemon_dependencies_test {

using namespace iaposte::testing;

namespace {

json request(const std::string& id, const std::string& to) {
  return {{"request_id", id},
          {"tenant", "acme"},
          {"from", "contact@iaposte.test"},
          {"to", json::array({to})},
          {"subject", "Relevé " + id},
          {"text", "Bonjour, voici votre relevé."}};
}

void stack(const std::string& action, const std::string& component) {
  std::string out;
  int rc = run({IAPOSTE_STACK_SCRIPT, action, component}, {}, &out);
  REQUIRE_MESSAGE(rc == 0, "scripts/stack " << action << " " << component << ": " << out);
}

} // namespace

TEST_CASE("PostgreSQL stopped mid-run: requests wait, nothing is sent unclaimed, all go out "
          "once it is back") {
  scenario sc("pgdown");
  daemon_process d(sc.env);
  REQUIRE_MESSAGE(d.wait_log("daemon.ready", 60s), d.log());
  topic_reader status(sc.status);

  std::vector<json> before, during;
  for (int i = 0; i < 10; ++i)
    before.push_back(request(sc.name + "-a" + std::to_string(i), "client@exemple.fr"));
  for (int i = 0; i < 30; ++i)
    during.push_back(request(sc.name + "-b" + std::to_string(i), "client@exemple.fr"));
  produce(sc.requests, before);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 10; }, 60s);

  // /readyz and /metrics say so, from the admin port.
  const int port = admin_port(d);
  REQUIRE(port > 0);
  auto ready = http_get(port, "/readyz");
  CHECK(ready.status == 200);
  auto metrics = http_get(port, "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("iaposte_dependency_up{name=\"postgres\"} 1") != std::string::npos);

  stack("stop", "postgres");
  produce(sc.requests, during);
  // No claim can be made: nothing of the second batch may be sent or settled.
  auto seen = status.until([](const auto& s) { return terminal_ids(s).size() > 10; }, 4s);
  CHECK(terminal_ids(seen).size() == 10);
  for (const auto& r : during)
    CHECK(captured(r["request_id"]).empty());
  CHECK(d.wait_log("store.pg_unavailable", 10s));
  ready = http_get(port, "/readyz");
  CHECK(ready.status == 503);
  auto checks = json::parse(ready.body, nullptr, false);
  CAPTURE(ready.body);
  REQUIRE(checks.is_object());
  bool pg_reported_down = false;
  for (const auto& c : checks.value("checks", json::array()))
    if (c.value("name", "") == "postgres") pg_reported_down = !c.value("ok", true);
  CHECK(pg_reported_down);
  CHECK(http_get(port, "/metrics").body.find("iaposte_dependency_up{name=\"postgres\"} 0") !=
        std::string::npos);

  stack("start", "postgres");
  status.until([](const auto& s) { return terminal_ids(s).size() >= 40; }, 90s);
  auto by_id = statuses_by_request(status.events());
  for (const auto& r : during) {
    std::string id = r["request_id"];
    CAPTURE(id);
    CHECK(by_id[id].back() == "sent");
    CHECK(captured(id).size() == 1);
  }
  CHECK(d.log().find("daemon.fatal") == std::string::npos);
  CHECK(http_get(port, "/readyz").status == 200);
  // The counters caught up (copied once a second).
  std::this_thread::sleep_for(1500ms);
  CHECK(http_get(port, "/metrics").body.find("iaposte_requests_total{status=\"sent\"} 40") !=
        std::string::npos);
}

TEST_CASE("the Kafka broker restarted mid-run: every request still ends with one email") {
  scenario sc("kafkadown");
  const int n = 60;
  std::vector<json> requests;
  for (int i = 0; i < n; ++i)
    requests.push_back(
        request(sc.name + "-" + std::to_string(i), "slow300-" + std::to_string(i) + "@exemple.fr"));
  produce(sc.requests, requests);
  daemon_process d(sc.env);
  REQUIRE_MESSAGE(d.wait_log("daemon.ready", 60s), d.log());
  REQUIRE(d.wait_log("request.sent", 60s));
  stack("restart", "kafka");

  topic_reader status(sc.status);
  status.until([&](const auto& s) { return terminal_ids(s).size() >= std::size_t(n); }, 120s);
  auto by_id = statuses_by_request(status.events());
  int lost = 0;
  for (const auto& r : requests) {
    std::string id = r["request_id"];
    const auto& st = by_id[id];
    if (std::find(st.begin(), st.end(), "sent") == st.end()) ++lost;
    CHECK(captured(id).size() == 1);
  }
  CHECK(lost == 0);
  CHECK(d.log().find("daemon.fatal") == std::string::npos);
}

} // namespace test_integration_daemon_dependencies_test
