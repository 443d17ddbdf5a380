// AI end to end: Kafka → iaposted → the local OpenAI-compatible test server
// (tests/peers/fake_openai.py, the one allowed test double) → SMTP capture, with the status
// events saying who wrote the content; a provider down falls back to the template (or to the
// next provider); a failing provider's breaker opens and closes again; a cached answer
// survives a restart (ai_cache); a negative tone is held back by the tenant's policy; a style
// profile set with `iaposte style set` reaches the model's prompt.
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/status.hpp"
#include "harness.hpp"
#include "smtp/support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_daemon_ai_test {

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

  // Every chat-completions request received so far: [{"path", "headers", "body"}, ...].
  json requests() const {
    auto r = http_get(port, "/_requests");
    auto j = json::parse(r.body, nullptr, false);
    return j.is_array() ? j : json();
  }

  int calls() const {
    auto j = requests();
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

// One [[ai.providers]] table for a fake server; `extra` adds "key = value" lines.
std::string provider_table(const std::string& name, int port, const std::string& extra = "") {
  return "[[ai.providers]]\nname = \"" + name +
         "\"\nbase_url = \"http://127.0.0.1:" + std::to_string(port) + "/v1\"\nmodel = \"" + name +
         "-model\"\napi_key_env = \"FAKE_AI_KEY\"\nmax_retries = 0\ntimeout_ms = 2000\n" + extra +
         "\n";
}

fs::path write_config(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return path;
}

// The value of one /metrics series ("name{labels}"), or "" when it is not there.
std::string metric(int admin, const std::string& series) {
  auto body = http_get(admin, "/metrics").body;
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line))
    if (line.rfind(series + " ", 0) == 0) return line.substr(series.size() + 1);
  return "";
}

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

// Produces `req` and waits for its terminal event, which it returns.
json send_and_wait(topic_reader& status, const std::string& topic, const json& req) {
  const std::string id = req["request_id"];
  produce(topic, {req});
  status.until([&](const auto& seen) { return terminal_ids(seen).count(id) > 0; }, 60s);
  auto last = last_events(status.events());
  REQUIRE_MESSAGE(last.count(id), "no terminal event for " << id);
  return last[id];
}

// The system prompt the fake server received for the request whose user message has `needle`.
std::string system_prompt_for(const fake_ai& fake, const std::string& needle) {
  for (const auto& r : fake.requests()) {
    const auto& msgs = r["body"]["messages"];
    std::string system, user;
    for (const auto& m : msgs) {
      if (m["role"] == "system") system = m["content"].get<std::string>();
      if (m["role"] == "user") user = m["content"].get<std::string>();
    }
    if (user.find(needle) != std::string::npos) return system;
  }
  return "";
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

TEST_CASE("ai: the first provider failing (closed connection, 500), the second one writes; the "
          "event names it with fallback true") {
  fake_ai first, second;
  second.control({{"default", {{"kind", "ok"}, {"subject", "Written by the second provider"}}}});
  // The connection closed first: on a connection of its own (a reused keep-alive one the
  // server closed is retried at once on a new one, by design).
  first.control({{"queue", json::array({{{"kind", "close"}}, {{"kind", "500"}}})}});
  scenario sc("aifb");
  sc.env["FAKE_AI_KEY"] = "sk-test-not-a-secret";
  sc.env["IAPOSTE_AI_PG_CACHE"] = "false";
  auto cfg = write_config(first.dir / "two.toml", provider_table("first", first.port) +
                                                      provider_table("second", second.port));
  daemon_process daemon(sc.env, {"--config", cfg.string()});
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
  topic_reader status(sc.status);

  for (const auto* suffix : {"-afterclose", "-after500"}) {
    CAPTURE(suffix);
    auto req = ai_request(sc.name + suffix, "personalize");
    auto ev = send_and_wait(status, sc.requests, req);
    REQUIRE(ev["status"] == "sent");
    CHECK(ev["ai"]["provider"] == "second");
    CHECK(ev["ai"]["model"] == "second-model");
    CHECK(ev["ai"]["fallback"] == true);
    CHECK(ev["ai"]["cached"] == false);
    auto mail = captured(req["request_id"]);
    REQUIRE(mail.size() == 1);
    CHECK(mail[0].find("Subject: Written by the second provider") != std::string::npos);
  }
  CHECK(first.calls() == 2); // max_retries = 0: one attempt each
  CHECK(second.calls() == 2);
}

TEST_CASE("ai: a provider failing opens its breaker (no more calls, /metrics says open) and "
          "closes it after the cool-down once it answers again") {
  fake_ai first, second;
  first.control({{"default", {{"kind", "500"}}}});
  scenario sc("aibrk");
  sc.env["FAKE_AI_KEY"] = "sk-test-not-a-secret";
  sc.env["IAPOSTE_AI_PG_CACHE"] = "false";
  constexpr auto cooldown = 5000ms;
  auto cfg = write_config(first.dir / "breaker.toml",
                          provider_table("first", first.port,
                                         "breaker_failures = 3\nbreaker_cooldown_ms = " +
                                             std::to_string(cooldown.count()) + "\n") +
                              provider_table("second", second.port));
  daemon_process daemon(sc.env, {"--config", cfg.string()});
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
  const int admin = admin_port(daemon);
  REQUIRE(admin > 0);
  topic_reader status(sc.status);
  const std::string state = "iaposte_ai_breaker_state{provider=\"first\"}";
  CHECK(metric(admin, state) == "0");

  // 1. Three failures in a row (one request at a time): the threshold.
  int n = 0;
  auto next = [&] { return ai_request(sc.name + "-" + std::to_string(++n), "personalize"); };
  for (int i = 0; i < 3; ++i) {
    auto ev = send_and_wait(status, sc.requests, next());
    CHECK(ev["status"] == "sent");
    CHECK(ev["ai"]["provider"] == "second");
  }
  const auto opened = std::chrono::steady_clock::now();
  CHECK(first.calls() == 3);
  CHECK(metric(admin, state) == "1");
  CHECK(metric(admin, "iaposte_ai_failures{provider=\"first\"}") == "3");

  // 2. While it is open: the second provider answers, the first is not called at all.
  for (int i = 0; i < 4; ++i) {
    auto ev = send_and_wait(status, sc.requests, next());
    CHECK(ev["status"] == "sent");
    CHECK(ev["ai"]["provider"] == "second");
    CHECK(ev["ai"]["fallback"] == true);
  }
  REQUIRE_MESSAGE(std::chrono::steady_clock::now() - opened < cooldown,
                  "the open phase outlasted the cool-down: the test cannot tell");
  CHECK(first.calls() == 3);
  CHECK(second.calls() == 7);
  CHECK(metric(admin, state) == "1");

  // 3. The first provider is back; after the cool-down one probe closes the breaker.
  first.control({{"default", {{"kind", "ok"}}}});
  std::this_thread::sleep_until(opened + cooldown + 500ms);
  auto ev = send_and_wait(status, sc.requests, next());
  CHECK(ev["status"] == "sent");
  CHECK(ev["ai"]["provider"] == "first");
  CHECK(ev["ai"]["fallback"] == false);
  CHECK(first.calls() == 4);
  CHECK(metric(admin, state) == "0");
  ev = send_and_wait(status, sc.requests, next());
  CHECK(ev["ai"]["provider"] == "first");
  CHECK(first.calls() == 5);
  CHECK(second.calls() == 7);
}

TEST_CASE("ai: an answer cached in PostgreSQL (ai_cache) serves the same prompt after a daemon "
          "restart without a model call") {
  fake_ai fake;
  scenario sc("aicache");
  sc.env["FAKE_AI_KEY"] = "sk-test-not-a-secret";
  // The same prompt as the first request, under another request id: a contact of its own so
  // that no earlier run's ai_cache row answers the first one.
  const std::string contact = unique("Zoé");
  auto request = [&](const std::string& id) {
    json r = ai_request(id, "personalize");
    r["variables"] = {{"first_name", contact}, {"numero", "D-42"}};
    return r;
  };
  auto first = request(sc.name + "-before");
  auto again = request(sc.name + "-after");
  {
    daemon_process daemon(sc.env, {"--config", fake.config().string()});
    REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
    topic_reader status(sc.status);
    auto ev = send_and_wait(status, sc.requests, first);
    REQUIRE(ev["status"] == "sent");
    CHECK(ev["ai"]["provider"] == "fake");
    CHECK(ev["ai"]["cached"] == false);
    CHECK(fake.calls() == 1);
    // The answer is written to ai_cache on the AI client's PostgreSQL thread, after the send;
    // a clean stop right away still writes it.
    daemon.signal(SIGTERM);
    REQUIRE(daemon.wait_exit(30s) == 0);
  }
  daemon_process daemon(sc.env, {"--config", fake.config().string()});
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
  topic_reader status(sc.status);
  auto ev = send_and_wait(status, sc.requests, again);
  REQUIRE(ev["status"] == "sent");
  CHECK(ev["ai"]["provider"] == "fake");
  CHECK(ev["ai"]["cached"] == true);
  CHECK(ev["ai"]["fallback"] == false);
  CHECK(fake.calls() == 1);
  auto mail = captured(again["request_id"]);
  REQUIRE(mail.size() == 1);
  CHECK(mail[0].find("Subject: [AI] Votre devis D-42") != std::string::npos);
  const int admin = admin_port(daemon);
  REQUIRE(admin > 0);
  CHECK(metric(admin, "iaposte_ai_cache_hits{cache=\"postgres\"}") == "1");
}

TEST_CASE("ai: style profiles set with `iaposte style set` reach the model's system prompt, the "
          "sender's before the tenant's") {
  fake_ai fake;
  scenario sc("aistyle");
  sc.env["FAKE_AI_KEY"] = "sk-test-not-a-secret";
  // pg_cache stays on: style profiles are read through the same PostgreSQL side as ai_cache.
  daemon_process daemon(sc.env, {"--config", fake.config().string()}); // migrates
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
  const std::string tenant = unique("style");
  std::map<std::string, std::string> env{{"DATABASE_URL", stack_value("DATABASE_URL")}};
  std::string out;
  REQUIRE_MESSAGE(
      run({IAPOSTE_CLI_BIN, "style", "set", "--tenant", tenant, "--tone", "chaleureux et direct",
           "--formality", "vous", "--language", "fr", "--signature", "Cordialement, l'équipe Acme"},
          env, &out) == 0,
      out);
  REQUIRE_MESSAGE(run({IAPOSTE_CLI_BIN, "style", "set", "--tenant", tenant, "--sender",
                       "conseil@iaposte.test", "--tone", "sobre", "--formality", "tu"},
                      env, &out) == 0,
                  out);
  topic_reader status(sc.status);

  auto from_sender = ai_request(sc.name + "-sender", "personalize");
  from_sender["tenant"] = tenant; // from conseil@iaposte.test: the sender's profile
  auto from_other = ai_request(sc.name + "-other", "personalize");
  from_other["tenant"] = tenant;
  from_other["from"] = "autre@iaposte.test"; // no profile of its own: the tenant's
  auto no_profile = ai_request(sc.name + "-none", "personalize");
  no_profile["tenant"] = unique("nostyle");
  produce(sc.requests, {from_sender, from_other, no_profile});
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 3; }, 60s);
  for (const auto& [id, e] : last_events(status.events())) {
    CAPTURE(id);
    CHECK(e["status"] == "sent");
    CHECK(e["ai"]["provider"] == "fake");
  }
  REQUIRE(fake.calls() == 3);

  // The user message carries the request id (variable numero): each prompt is found by it.
  auto sender_prompt = system_prompt_for(fake, sc.name + "-sender");
  CAPTURE(sender_prompt);
  CHECK(sender_prompt.find("Tone: sobre.") != std::string::npos);
  CHECK(sender_prompt.find("Address the reader informally") != std::string::npos);
  CHECK(sender_prompt.find("chaleureux") == std::string::npos);
  CHECK(sender_prompt.find("Signature conventions") == std::string::npos);

  auto tenant_prompt = system_prompt_for(fake, sc.name + "-other");
  CAPTURE(tenant_prompt);
  CHECK(tenant_prompt.find("Tone: chaleureux et direct.") != std::string::npos);
  CHECK(tenant_prompt.find("Address the reader formally") != std::string::npos);
  CHECK(tenant_prompt.find("Write in this language: fr.") != std::string::npos);
  CHECK(tenant_prompt.find("Signature conventions: Cordialement, l'équipe Acme") !=
        std::string::npos);

  auto plain_prompt = system_prompt_for(fake, sc.name + "-none");
  CAPTURE(plain_prompt);
  REQUIRE(!plain_prompt.empty());
  CHECK(plain_prompt.find("Tone:") == std::string::npos);
}

TEST_CASE("ai: requests waiting on a slow model give their max_in_flight place back: requests "
          "without AI behind them are sent meanwhile; ai.max_waiting 0 keeps them in place") {
  for (const bool detach : {true, false}) {
    CAPTURE(detach);
    fake_ai fake;
    fake.control({{"default", {{"kind", "slow"}, {"delay_ms", 1500}}}}); // under timeout_ms 2 s
    scenario sc(detach ? "aiwait" : "aikeep");
    sc.env["FAKE_AI_KEY"] = "sk-test-not-a-secret";
    sc.env["IAPOSTE_AI_PG_CACHE"] = "false";
    sc.env["IAPOSTE_DELIVERY_MAX_IN_FLIGHT"] = "4";
    sc.env["IAPOSTE_AI_MAX_WAITING"] = detach ? "100" : "0";
    auto cfg = write_config(fake.dir / "slow.toml", provider_table("fake", fake.port));
    daemon_process daemon(sc.env, {"--config", cfg.string()});
    REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
    topic_reader status(sc.status);

    // Four AI requests take the four places and wait on the model (claimed: accepted)...
    const std::string ai_prefix = sc.name + "-ai", plain_prefix = sc.name + "-plain";
    std::vector<json> ai_batch, plain_batch;
    for (int i = 0; i < 4; ++i)
      ai_batch.push_back(ai_request(ai_prefix + std::to_string(i), "personalize"));
    produce(sc.requests, ai_batch);
    status.until(
        [](const auto& seen) {
          return std::count_if(seen.begin(), seen.end(), [](const auto& m) {
                   return json::parse(m.payload, nullptr, false).value("status", "") == "accepted";
                 }) >= 4;
        },
        30s);
    // ... then eight without AI.
    for (int i = 0; i < 8; ++i) {
      auto r = ai_request(plain_prefix + std::to_string(i), "personalize");
      r.erase("ai");
      plain_batch.push_back(r);
    }
    produce(sc.requests, plain_batch);
    status.until([](const auto& seen) { return terminal_ids(seen).size() >= 12; }, 60s);

    std::vector<std::string> order; // request ids in the order their sent events came
    for (const auto& e : status.events())
      if (e["status"] == "sent") order.push_back(e["request_id"]);
    REQUIRE(order.size() == 12);
    const auto first_ai = std::find_if(order.begin(), order.end(), [&](const std::string& id) {
      return id.rfind(ai_prefix, 0) == 0;
    });
    const auto plain_before_ai = std::count_if(order.begin(), first_ai, [&](const std::string& id) {
      return id.rfind(plain_prefix, 0) == 0;
    });
    if (detach)
      CHECK(plain_before_ai == 8); // all eight went out while the model was writing
    else
      CHECK(plain_before_ai == 0); // stuck behind the four in max_in_flight
    CHECK(fake.calls() == 4);
  }
}

} // namespace test_integration_daemon_ai_test
