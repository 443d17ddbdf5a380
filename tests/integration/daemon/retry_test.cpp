// Retry tiers against the real stack: long waits handed to retry topics (not_before held
// by pausing the partition), scheduled sends through the same path, and the lifetime /
// expires_at bound ending in `failed` plus a DLQ copy.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>

#include "core/status.hpp"
#include "harness.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_daemon_retry_test {

using namespace iaposte::testing;
namespace core = iaposte::core;

namespace {

json request(const std::string& id, const std::string& to) {
  return {{"request_id", id},
          {"tenant", "acme"},
          {"from", "Relances <relances@iaposte.test>"},
          {"to", json::array({to})},
          {"subject", "Rappel {n}"},
          {"text", "Bonjour, ceci est le rappel {n}."},
          {"variables", {{"n", id}}}};
}

core::clock::time_point at(const json& event) {
  auto t = core::parse_time(event["timestamp"].get<std::string>());
  REQUIRE(t);
  return *t;
}

double seconds_between(core::clock::time_point a, core::clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Waits with fixed-delay retry topics only (jitter off, so that delays are exact).
void short_tiers(scenario& sc, const std::string& tiers) {
  sc.env["IAPOSTE_RETRY_IN_PROCESS_MAX_MS"] = "500";
  sc.env["IAPOSTE_RETRY_TIERS"] = tiers;
  sc.env["IAPOSTE_RETRY_JITTER"] = "0";
}

} // namespace

TEST_CASE("a backoff longer than the in-process limit goes through a retry topic, then is "
          "sent once") {
  scenario sc("tier");
  const std::string tier = sc.name + ".retry.2s";
  short_tiers(sc, tier + ":2000");
  sc.env["IAPOSTE_RETRY_INITIAL_MS"] = "2500"; // 2.5 s: the 2 s topic, then 0.5 s in-process
  sc.env["IAPOSTE_RETRY_MAX_DELAY_MS"] = "10000";
  daemon_process daemon(sc.env);
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());

  auto req = request(sc.name + "-1", unique("tempfail1") + "@exemple.fr");
  produce(sc.requests, {req});
  topic_reader status(sc.status);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 1; }, 60s);
  auto events = status.events();
  REQUIRE(statuses(events) == std::vector<std::string>{"accepted", "deferred", "sent"});
  CHECK(events[1]["smtp"]["code"] == 451);
  CHECK(events[2]["attempt"] == 2);
  // The retry was not sent before its time: 2 s on the topic plus 0.5 s in-process.
  CHECK(seconds_between(at(events[1]), at(events[2])) >= 2.4);
  const auto sent = captured(req["request_id"]);
  REQUIRE(sent.size() == 1);
  CHECK(daemon.log().find("request.handed_off") != std::string::npos);
  // The retry topic's copy sent the message stored with the deferral, not a new one: the
  // Date composed before the first attempt, 2.5 s before this one.
  std::string stored;
  REQUIRE(run({"/usr/bin/psql", stack_value("DATABASE_URL"), "-Atqc",
               "SELECT content FROM messages WHERE request_id = '" +
                   req["request_id"].get<std::string>() + "'"},
              {}, &stored) == 0);
  // (the header block starts with Date)
  const auto date = stored.rfind("Date: ", 0) == 0 ? 0 : stored.find("\r\nDate: ");
  REQUIRE(date != std::string::npos);
  const std::string date_line = stored.substr(date, stored.find("\r\n", date + 2) - date);
  CHECK(date_line.size() > 20);
  CHECK(sent[0].find(date_line) != std::string::npos);

  // The copy on the retry topic: the original request, with its due and first-seen times.
  topic_reader retry(tier);
  const auto& copies = retry.until([](const auto& seen) { return !seen.empty(); }, 20s);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].key == req["request_id"]);
  CHECK(json::parse(copies[0].payload) == req);
  REQUIRE(copies[0].header("iaposte-not-before"));
  REQUIRE(copies[0].header("iaposte-due"));
  REQUIRE(copies[0].header("iaposte-first-seen"));
  CHECK(std::stoll(*copies[0].header("iaposte-due")) >
        std::stoll(*copies[0].header("iaposte-not-before")));
}

TEST_CASE("a send_at beyond the in-process limit hops through the retry topics; a SIGKILL while it "
          "waits does "
          "not lose it or send it twice") {
  scenario sc("sched");
  short_tiers(sc, sc.name + ".retry.1s:1000," + sc.name + ".retry.3s:3000");
  auto env = sc.env;
  std::optional<daemon_process> daemon(std::in_place, env);
  REQUIRE_MESSAGE(daemon->wait_log("daemon.ready", 60s), daemon->log());

  const auto send_at = core::clock::now() + 6s;
  auto req = request(sc.name + "-1", unique("rcpt") + "@exemple.fr");
  req["send_at"] = core::format_time(send_at);
  auto now_req = request(sc.name + "-2", unique("rcpt") + "@exemple.fr");
  produce(sc.requests, {req, now_req});

  // The request without send_at is not held behind the scheduled one.
  topic_reader status(sc.status);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 1; }, 30s);
  REQUIRE(terminal_ids(status.until([](auto&) { return true; }, 0ms)).count(sc.name + "-2") == 1);
  REQUIRE(daemon->wait_log("request.handed_off", 10s));
  daemon->signal(SIGKILL);
  daemon->wait_exit(10s);
  daemon.emplace(env);
  REQUIRE_MESSAGE(daemon->wait_log("daemon.ready", 60s), daemon->log());

  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 2; }, 60s);
  auto by = statuses_by_request(status.events());
  CHECK(by[sc.name + "-1"].back() == "sent");
  std::size_t sent = 0;
  for (const auto& e : status.events())
    if (e["request_id"] == sc.name + "-1" && e["status"] == "sent") {
      ++sent;
      CHECK(at(e) >= send_at - 50ms);
    }
  CHECK(sent == 1);
  CHECK(captured(req["request_id"]).size() == 1);
  CHECK(captured(now_req["request_id"]).size() == 1);
}

TEST_CASE("the lifetime and expires_at bound the retries: failed with the last reply and a "
          "DLQ copy") {
  scenario sc("expire");
  short_tiers(sc, sc.name + ".retry.1s:1000");
  sc.env["IAPOSTE_DELIVERY_LIFETIME_MS"] = "4000";
  sc.env["IAPOSTE_RETRY_INITIAL_MS"] = "300";
  sc.env["IAPOSTE_RETRY_MULTIPLIER"] = "1";
  sc.env["IAPOSTE_RETRY_MAX_ATTEMPTS"] = "1000";
  daemon_process daemon(sc.env);
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());

  auto by_lifetime = request(sc.name + "-life", unique("tempfail999") + "@exemple.fr");
  auto by_expiry = request(sc.name + "-exp", unique("tempfail999") + "@exemple.fr");
  by_expiry["expires_at"] = core::format_time(core::clock::now() + 1500ms);
  const auto start = core::clock::now();
  produce(sc.requests, {by_lifetime, by_expiry});

  topic_reader status(sc.status);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 2; }, 60s);
  std::map<std::string, json> last;
  for (const auto& e : status.events())
    last[e["request_id"]] = e;
  for (const auto* id : {"-life", "-exp"}) {
    CAPTURE(id);
    const json& e = last[sc.name + id];
    CHECK(e["status"] == "failed");
    CHECK(e["smtp"]["code"] == 451);
    CHECK(e["reason"].get<std::string>().find("expired") != std::string::npos);
  }
  // expires_at (1.5 s) came before the lifetime (4 s).
  CHECK(seconds_between(start, at(last[sc.name + "-exp"])) < 3.0);
  CHECK(seconds_between(start, at(last[sc.name + "-life"])) >= 3.5);

  topic_reader dlq(sc.dlq);
  const auto& copies = dlq.until([](const auto& seen) { return seen.size() >= 2; }, 30s);
  REQUIRE(copies.size() == 2);
  for (const auto& c : copies) {
    REQUIRE(c.header("iaposte-last-reply"));
    CHECK(c.header("iaposte-last-reply")->rfind("451", 0) == 0);
    REQUIRE(c.header("iaposte-status"));
    CHECK(*c.header("iaposte-status") == "failed");
  }
  CHECK(captured(by_lifetime["request_id"]).empty());
}

} // namespace test_integration_daemon_retry_test
