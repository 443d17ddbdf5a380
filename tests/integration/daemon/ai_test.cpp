// AI end to end: Kafka → iaposted → the local OpenAI-compatible test server
// (tests/peers/fake_openai.py, the one allowed test double) → SMTP capture, with the status
// events saying who wrote the content; a provider down falls back to the template; a
// negative tone is held back by the tenant's policy.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "core/status.hpp"
#include "harness.hpp"
#include "smtp/support.hpp"

using namespace iaposte::testing;
namespace fs = std::filesystem;
namespace test = iaposte::smtp::test;

namespace {

// fake_openai.py on a free port; its port is the first line it prints.
struct fake_ai {
  test::temp_dir dir;
  std::optional<test::child_process> proc;
  int port = 0;

  fake_ai() {
    proc.emplace(
        std::vector<std::string>{"/usr/bin/python3",
                                 (fs::path(IAPOSTE_STACK_SCRIPT).parent_path().parent_path() /
                                  "tests/peers/fake_openai.py")
                                     .string()},
        dir / "fake.log");
    for (int i = 0; i < 100 && port == 0; ++i) {
      std::ifstream in(dir / "fake.log");
      std::string line;
      while (std::getline(in, line))
        if (!line.empty() && std::all_of(line.begin(), line.end(), ::isdigit))
          port = std::stoi(line);
      if (port == 0) std::this_thread::sleep_for(100ms);
    }
    REQUIRE_MESSAGE(port > 0, proc->log());
  }

  // POST /_control with a JSON body (curl-free: a one-shot python call).
  void control(const json& body) const {
    std::string out;
    int rc = run({"/usr/bin/python3", "-c",
                  "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request("
                  "sys.argv[1], data=sys.argv[2].encode(), method='POST')).read()",
                  "http://127.0.0.1:" + std::to_string(port) + "/_control", body.dump()},
                 {}, &out);
    REQUIRE_MESSAGE(rc == 0, out);
  }

  int calls() const {
    auto r = http_get(port, "/_requests");
    auto j = json::parse(r.body, nullptr, false);
    return j.is_array() ? static_cast<int>(j.size()) : -1;
  }

  // A config file with this server as the only provider.
  fs::path config() const {
    auto path = dir / "iaposted.toml";
    std::ofstream out(path);
    out << "[[ai.providers]]\nname = \"fake\"\nbase_url = \"http://127.0.0.1:" << port
        << "/v1\"\nmodel = \"fake-1\"\napi_key_env = \"FAKE_AI_KEY\"\nmax_retries = 0\n"
        << "timeout_ms = 2000\n";
    return path;
  }
};

json ai_request(const std::string& id, const std::string& mode) {
  json r = {{"request_id", id},
            {"tenant", "acme"},
            {"from", "Conseil <conseil@iaposte.test>"},
            {"to", json::array({unique("client") + "@exemple.fr"})},
            {"subject", "Votre devis {numero}"},
            {"text", "Bonjour {first_name}, voici votre devis {numero} : https://iaposte.test/d"},
            {"variables", {{"first_name", "Hélène"}, {"numero", id}}},
            {"ai", {{"mode", mode}}}};
  if (mode == "generate") r["ai"]["instructions"] = "Annonce la nouvelle offre du mois";
  return r;
}

std::map<std::string, json> last_events(const std::vector<json>& events) {
  std::map<std::string, json> last;
  for (const auto& e : events)
    last[e["request_id"]] = e;
  return last;
}

} // namespace

TEST_CASE("ai: personalize and generate through the model, events name the provider; the "
          "model down falls back to the template; a negative tone is held back") {
  fake_ai fake;
  scenario sc("ai");
  sc.env["FAKE_AI_KEY"] = "sk-test-not-a-secret";
  sc.env["IAPOSTE_AI_HOLD_NEGATIVE"] = "acme";
  sc.env["IAPOSTE_AI_PG_CACHE"] = "false"; // each case below must reach the model
  daemon_process daemon(sc.env, {"--config", fake.config().string()});
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
  topic_reader status(sc.status);

  // 1. The model writes: personalize and generate.
  auto p = ai_request(sc.name + "-perso", "personalize");
  auto g = ai_request(sc.name + "-gen", "generate");
  produce(sc.requests, {p, g});
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 2; }, 60s);
  auto last = last_events(status.events());
  for (const auto* id : {"-perso", "-gen"}) {
    CAPTURE(id);
    const json& e = last[sc.name + id];
    REQUIRE(e["status"] == "sent");
    CHECK(e["ai"]["provider"] == "fake");
    CHECK(e["ai"]["model"] == "fake-1");
    CHECK(e["ai"]["fallback"] == false);
    CHECK(e["ai"]["sentiment"]["label"] == "positive");
    CHECK(e["ai"]["sentiment"]["source"] == "model");
  }
  auto perso = captured(p["request_id"]);
  REQUIRE(perso.size() == 1);
  CHECK(perso[0].find("Subject: [AI] Votre devis") != std::string::npos);
  auto gen = captured(g["request_id"]);
  REQUIRE(gen.size() == 1);
  CHECK(gen[0].find("Subject: Generated: Annonce la nouvelle offre du mois") != std::string::npos);
  CHECK(fake.calls() == 2);

  // 2. The model fails (500): the template, rendered, goes out; the event says so.
  fake.control({{"queue", json::array({{{"kind", "500"}}})}});
  auto down = ai_request(sc.name + "-down", "personalize");
  produce(sc.requests, {down});
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 3; }, 60s);
  last = last_events(status.events());
  const json& d = last[sc.name + "-down"];
  REQUIRE(d["status"] == "sent");
  CHECK(d["ai"]["provider"] == "template");
  CHECK(d["ai"]["fallback"] == true);
  auto tmpl = captured(down["request_id"]);
  REQUIRE(tmpl.size() == 1);
  CHECK(tmpl[0].find("Subject: Votre devis " + down["request_id"].get<std::string>()) !=
        std::string::npos);

  // 3. A negative answer (no sentiment from the model: the lexicon decides) is held back.
  fake.control({{"queue", json::array({{{"kind", "ok"},
                                        {"sentiment", false},
                                        {"text", "Unfortunately this is a final warning: your "
                                                 "debt is overdue and unpaid, a legal penalty "
                                                 "will follow. Terrible."}}})}});
  auto neg = ai_request(sc.name + "-neg", "personalize");
  produce(sc.requests, {neg});
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 4; }, 60s);
  last = last_events(status.events());
  const json& n = last[sc.name + "-neg"];
  CHECK(n["status"] == "rejected");
  CHECK(n["reason"].get<std::string>().find("negative tone") != std::string::npos);
  CHECK(n["ai"]["sentiment"]["label"] == "negative");
  CHECK(n["ai"]["sentiment"]["source"] == "lexicon");
  CHECK(captured(neg["request_id"]).empty());

  // The API key never reaches the log.
  CHECK(daemon.log().find("sk-test-not-a-secret") == std::string::npos);
}

TEST_CASE("ai: the content is written once: a retry topic's copy sends the stored message "
          "without calling the model, and its events still name who wrote it") {
  fake_ai fake;
  scenario sc("aionce");
  sc.env["FAKE_AI_KEY"] = "sk-test-not-a-secret";
  sc.env["IAPOSTE_AI_PG_CACHE"] = "false";
  // A send_at 3 s ahead goes through a 1 s retry topic (jitter off): the copies that come
  // back from it find the content stored by the first claim.
  sc.env["IAPOSTE_RETRY_IN_PROCESS_MAX_MS"] = "500";
  sc.env["IAPOSTE_RETRY_TIERS"] = sc.name + ".retry.1s:1000";
  sc.env["IAPOSTE_RETRY_JITTER"] = "0";
  daemon_process daemon(sc.env, {"--config", fake.config().string()});
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
  topic_reader status(sc.status);

  auto req = ai_request(sc.name + "-1", "personalize");
  req["send_at"] = iaposte::core::format_time(iaposte::core::clock::now() + 3s);
  produce(sc.requests, {req});
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 1; }, 60s);
  auto last = last_events(status.events());
  const json& e = last[sc.name + "-1"];
  REQUIRE(e["status"] == "sent");
  CHECK(e["ai"]["provider"] == "fake");
  // Recorded with the content, not a cache hit: the copy never reached the AI client.
  CHECK(e["ai"]["cached"] == false);
  CHECK(e["ai"]["sentiment"]["label"] == "positive");
  CHECK(daemon.log().find("request.handed_off") != std::string::npos);
  CHECK(daemon.log().find("request.ai_reused") != std::string::npos);
  CHECK(fake.calls() == 1);
  auto mails = captured(req["request_id"]);
  REQUIRE(mails.size() == 1);
  CHECK(mails[0].find("Subject: [AI] Votre devis") != std::string::npos);
}
