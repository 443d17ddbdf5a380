// End to end through the real stack: Kafka → iaposted → SMTP capture (aiosmtpd) →
// PostgreSQL history → status events.
#include <doctest/doctest.h>

#include <ctime>
#include <thread>

#include "core/request.hpp"
#include "harness.hpp"
#include "mime/compose.hpp"
#include "render/render.hpp"
#include "store/store.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_daemon_delivery_test {

using namespace iaposte;
using namespace iaposte::testing;

namespace {

json french_request(const std::string& id, const std::string& tenant, const std::string& to,
                    const std::string& nom, const std::string& entreprise) {
  return {{"request_id", id},
          {"tenant", tenant},
          {"from", {{"email", "contact@iaposte.test"}, {"name", "Équipe Relations Clients"}}},
          {"to", json::array({{{"email", to}, {"name", nom}}})},
          {"subject", "Bonjour {nom}, votre proposition pour {entreprise}"},
          {"text", "Bonjour {nom},\n\nVoici la proposition préparée pour {entreprise} : "
                   "réception prévue à 9 h, déjà validée.\n\nÀ bientôt,\nL'équipe"},
          {"html", "<p>Bonjour <b>{nom}</b>,</p><p>Voici la proposition pour {entreprise}.</p>"},
          {"variables", {{"nom", nom}, {"entreprise", entreprise}}},
          {"metadata", {{"campaign", "essai"}}}};
}

// Parses "Wed, 25 Nov 2026 17:09:24 +0000" from the captured Date header.
core::clock::time_point captured_date(const std::string& message) {
  auto p = message.find("Date: ");
  REQUIRE(p != std::string::npos);
  std::string value = message.substr(p + 6, message.find("\r\n", p) - p - 6);
  std::tm tm{};
  REQUIRE(strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S", &tm) != nullptr);
  return core::clock::from_time_t(timegm(&tm));
}

// What the daemon should have sent for this request, composed again with the captured Date.
std::string expected_message(const json& request, const std::string& captured) {
  auto parsed = core::parse_request(request.dump(), core::limits{});
  REQUIRE(parsed.ok());
  const auto& r = *parsed.value;
  std::vector<std::string> missing;
  mime::content c{render::substitute(r.subject, r.variables, missing),
                  render::substitute(r.text, r.variables, missing),
                  render::substitute_html(r.html, r.variables, missing)};
  REQUIRE(missing.empty());
  auto id = mime::make_message_id(r.tenant, r.request_id, "iaposte.test");
  return mime::compose(r, c, id, captured_date(captured));
}

} // namespace

TEST_CASE("ten French requests are sent through aiosmtpd, byte-exact, with history in "
          "PostgreSQL") {
  scenario sc("ten");
  daemon_process daemon(sc.env);
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());

  const std::string tenant = unique("acme");
  std::vector<json> requests;
  const char* noms[] = {"Hélène", "François", "Zoé", "Jérôme", "Anaïs",
                        "Cécile", "Noël",     "Léa", "Loïc",   "Maëlle"};
  for (int i = 0; i < 10; ++i)
    requests.push_back(french_request(sc.name + "-" + std::to_string(i), tenant,
                                      "client" + std::to_string(i) + "@exemple.fr", noms[i],
                                      "Société Générale d'Études n°" + std::to_string(i)));
  produce(sc.requests, requests);

  topic_reader status(sc.status);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 10; }, 60s);
  auto by_id = statuses_by_request(status.events());
  store::store_config sc_db;
  sc_db.url = stack_value("DATABASE_URL");
  store::store db(sc_db);
  for (const auto& r : requests) {
    std::string id = r["request_id"];
    CAPTURE(id);
    REQUIRE(by_id[id] == std::vector<std::string>{"accepted", "sent"});
    auto copies = captured(id);
    REQUIRE(copies.size() == 1);
    CHECK(copies[0] == expected_message(r, copies[0]));
    // The event comes before its record (published, then recorded): wait for the row.
    auto row = db.find(tenant, id);
    for (int i = 0; i < 100 && row && row->state != "sent"; ++i) {
      std::this_thread::sleep_for(100ms);
      row = db.find(tenant, id);
    }
    REQUIRE(row.has_value());
    CHECK(row->state == "sent");
    CHECK(row->attempts == 1);
    auto history = db.history(tenant, id);
    REQUIRE(history.size() == 3); // accepted, sending (before the final dot), sent
    CHECK(history[1].status == iaposte::core::status::sending);
    CHECK(history[2].status == iaposte::core::status::sent);
  }
  for (const auto& e : status.events()) {
    CHECK(e["metadata"]["campaign"] == "essai");
    if (e["status"] == "sent") {
      CHECK(e["smtp"]["code"] == 250);
      CHECK(e["message_id"].get<std::string>().find("@iaposte.test>") != std::string::npos);
    }
  }
  // Each final dot was held for its `sending` record (at_most_once, the default): /metrics
  // counts them, and their wait (copied from the worker once a second).
  const int port = admin_port(daemon);
  REQUIRE(port > 0);
  std::string metrics;
  for (int i = 0; i < 30 && metric(metrics, "iaposte_dot_holds_total") < 10; ++i) {
    std::this_thread::sleep_for(200ms);
    metrics = http_get(port, "/metrics").body;
  }
  CHECK(metric(metrics, "iaposte_dot_holds_total") == 10);
  CHECK(metric(metrics, "iaposte_dot_hold_microseconds_total") >= 0);
}

TEST_CASE("a 4xx at RCPT is deferred with backoff, then sent") {
  scenario sc("tempfail");
  daemon_process daemon(sc.env);
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
  // The capture server answers 451 to this recipient the first two times it sees it.
  std::string rcpt = unique("tempfail2") + "@exemple.fr";
  auto req = french_request(sc.name + "-1", "acme", rcpt, "Hélène", "Exemple");
  produce(sc.requests, {req});
  topic_reader status(sc.status);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 1; }, 60s);
  auto events = status.events();
  auto got = statuses(events);
  REQUIRE(got == std::vector<std::string>{"accepted", "deferred", "deferred", "sent"});
  CHECK(events[1]["smtp"]["code"] == 451);
  CHECK(events[1]["attempt"] == 1);
  CHECK(events[1].contains("next_attempt_at"));
  CHECK(events[3]["attempt"] == 3);
  CHECK(captured(req["request_id"]).size() == 1);
}

TEST_CASE("kafka.publish_accepted = false: no `accepted` event, the later ones as usual, and the "
          "history still starts with accepted") {
  scenario sc("noaccepted");
  sc.env["IAPOSTE_KAFKA_PUBLISH_ACCEPTED"] = "false";
  daemon_process daemon(sc.env);
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
  auto req = french_request(sc.name + "-1", "acme", unique("tempfail1") + "@exemple.fr", "Hélène",
                            "Exemple");
  produce(sc.requests, {req});
  topic_reader status(sc.status);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 1; }, 60s);
  CHECK(statuses(status.events()) == std::vector<std::string>{"deferred", "sent"});
  const std::string history =
      psql_until("SELECT string_agg(e ->> 'status', ',' ORDER BY n) FROM messages, "
                 "jsonb_array_elements(history) WITH ORDINALITY AS h(e, n) WHERE request_id = '" +
                     req["request_id"].get<std::string>() + "'",
                 [](const std::string& out) { return out.find("sent\n") != std::string::npos; });
  CHECK(history == "accepted,sending,deferred,sending,sent\n");
  CHECK(captured(req["request_id"]).size() == 1);
}

TEST_CASE("a 5xx at RCPT is bounced with its enhanced status code, not retried") {
  scenario sc("bounce");
  daemon_process daemon(sc.env);
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
  std::string rcpt = unique("bounce") + "@exemple.fr";
  auto req = french_request(sc.name + "-1", "acme", rcpt, "Zoé", "Exemple");
  produce(sc.requests, {req});
  topic_reader status(sc.status);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 1; }, 60s);
  auto events = status.events();
  REQUIRE(events.size() == 2);
  CHECK(events[1]["status"] == "bounced");
  CHECK(events[1]["attempt"] == 1);
  CHECK(events[1]["smtp"]["code"] == 550);
  CHECK(events[1]["smtp"]["enhanced"] == "5.1.1");
  CHECK(captured(req["request_id"]).empty());
}

TEST_CASE("exhausted retries end as failed with the last reply") {
  scenario sc("exhaust");
  sc.env["IAPOSTE_RETRY_MAX_ATTEMPTS"] = "2";
  daemon_process daemon(sc.env);
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
  std::string rcpt = unique("tempfail9") + "@exemple.fr";
  produce(sc.requests, {french_request(sc.name + "-1", "acme", rcpt, "Léa", "Exemple")});
  topic_reader status(sc.status);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 1; }, 60s);
  auto got = statuses(status.events());
  REQUIRE(got == std::vector<std::string>{"accepted", "deferred", "failed"});
  auto last = status.events().back();
  CHECK(last["attempt"] == 2);
  CHECK(last["smtp"]["code"] == 451);
  CHECK(last["reason"].get<std::string>().find("gave up after 2 attempts") != std::string::npos);
  // Its copy on the DLQ, with why and the last reply.
  topic_reader dlq(sc.dlq);
  const auto& copies = dlq.until([](const auto& seen) { return !seen.empty(); }, 30s);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].key == sc.name + "-1");
  REQUIRE(copies[0].header("iaposte-last-reply"));
  CHECK(copies[0].header("iaposte-last-reply")->rfind("451 4.3.0", 0) == 0);
  REQUIRE(copies[0].header("iaposte-reason"));
  CHECK(copies[0].header("iaposte-reason")->find("gave up") != std::string::npos);
}

TEST_CASE("per-recipient outcomes: after a partial acceptance only the recipient refused with a "
          "4xx is retried; one refused with a 5xx is named in the sent event") {
  scenario sc("partial");
  daemon_process daemon(sc.env);
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
  auto later = unique("tempfail1") + "@exemple.fr";
  auto retried = french_request(sc.name + "-1", "acme", later, "Anaïs", "Exemple");
  retried["to"] = json::array({unique("ok") + "@exemple.fr", later});
  auto bounced_one = unique("bounce") + "@exemple.fr";
  auto partial = french_request(sc.name + "-2", "acme", bounced_one, "Noé", "Exemple");
  partial["to"] = json::array({unique("ok") + "@exemple.fr", bounced_one});
  produce(sc.requests, {retried, partial});
  topic_reader status(sc.status);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 2; }, 60s);
  auto by = statuses_by_request(status.events());
  CHECK(by[sc.name + "-1"] == std::vector<std::string>{"accepted", "deferred", "sent"});
  CHECK(by[sc.name + "-2"] == std::vector<std::string>{"accepted", "sent"});
  // Two transactions for the first (each recipient once), one for the second.
  CHECK(captured(retried["request_id"]).size() == 2);
  CHECK(captured(partial["request_id"]).size() == 1);
  // The message is stored only for the request that will be sent again (its deferral).
  std::string stored;
  REQUIRE(run({"/usr/bin/psql", stack_value("DATABASE_URL"), "-Atqc",
               "SELECT request_id || ':' || (content IS NOT NULL) FROM messages "
               "WHERE request_id LIKE '" +
                   sc.name + "-%' ORDER BY request_id"},
              {}, &stored) == 0);
  CHECK(stored == sc.name + "-1:true\n" + sc.name + "-2:false\n");
  for (const auto& e : status.events()) {
    if (e["request_id"] == sc.name + "-1" && e["status"] == "deferred")
      CHECK(e["reason"].get<std::string>().find("delivered to 1 recipient") != std::string::npos);
    if (e["request_id"] == sc.name + "-2" && e["status"] == "sent") {
      CHECK(e["reason"].get<std::string>().find("not delivered to: " + bounced_one) !=
            std::string::npos);
      CHECK(e["reason"].get<std::string>().find("5.1.1") != std::string::npos);
    }
  }
}

} // namespace test_integration_daemon_delivery_test
