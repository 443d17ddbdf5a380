// The operator's tools against the real stack: iaposte enqueue/tail and iaposted --check-config.
#include <doctest/doctest.h>

#include "harness.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_daemon_cli_test {

using namespace iaposte::testing;

TEST_CASE("iaposte enqueue puts a request on Kafka and iaposte tail sees it sent") {
  scenario sc("cli");
  daemon_process d(sc.env);
  REQUIRE_MESSAGE(d.wait_log("daemon.ready", 60s), d.log());
  std::map<std::string, std::string> env{{"KAFKA_BROKERS", stack_value("KAFKA_BROKERS")}};
  std::string out;
  std::string id = sc.name + "-1";
  int rc =
      run({IAPOSTE_CLI_BIN, "enqueue", "--topic", sc.requests, "--request-id", id, "--tenant",
           "acme", "--from", "Équipe <contact@iaposte.test>", "--to", "client@exemple.fr",
           "--subject", "Bonjour {nom}", "--text", "Bonjour {nom}, merci.", "--var", "nom=Hélène"},
          env, &out);
  REQUIRE_MESSAGE(rc == 0, out);
  CHECK(out.find(id) != std::string::npos);
  rc = run({IAPOSTE_CLI_BIN, "tail", "--topic", sc.status, "--from-beginning", "--prefix", id,
            "--status", "sent", "--count", "1", "--timeout", "60"},
           env, &out);
  REQUIRE_MESSAGE(rc == 0, out);
  auto ev = json::parse(out.substr(0, out.find('\n')));
  CHECK(ev["request_id"] == id);
  CHECK(ev["status"] == "sent");
}

TEST_CASE("iaposte exit codes: 2 on usage errors, 1 when tail times out") {
  std::map<std::string, std::string> env{{"KAFKA_BROKERS", stack_value("KAFKA_BROKERS")}};
  std::string out;
  CHECK(run({IAPOSTE_CLI_BIN}, env, &out) == 2);
  CHECK(run({IAPOSTE_CLI_BIN, "enqueue", "--help"}, env, &out) == 0);
  CHECK(out.find("usage: iaposte") != std::string::npos);
  CHECK(run({IAPOSTE_CLI_BIN, "enqueue", "--to", "a@b.c"}, env, &out) == 2);
  CHECK(run({IAPOSTE_CLI_BIN, "frobnicate"}, env, &out) == 2);
  CHECK(run({IAPOSTE_CLI_BIN, "tail", "--topik", "x", "--count", "1"}, env, &out) == 2);
  CHECK(out.find("unknown option --topik") != std::string::npos);
  CHECK(run({IAPOSTE_CLI_BIN, "enqueue", "--subjet", "x", "--from", "a@b.c", "--to", "d@e.f"}, env,
            &out) == 2);
  CHECK(run({IAPOSTE_CLI_BIN, "tail", "--topic", unique("empty"), "--count", "1", "--timeout", "2"},
            env, &out) == 1);
}

TEST_CASE("iaposted --check-config validates, hides secrets, and names a bad key") {
  std::string out;
  std::map<std::string, std::string> env{{"DATABASE_URL", "postgresql://u:hunter2@h/db"},
                                         {"SMTP_USER", "robot"},
                                         {"SMTP_PASSWORD", "hunter3"}};
  REQUIRE(run({IAPOSTED_BIN, "--check-config"}, env, &out) == 0);
  CHECK(out.find("hunter2") == std::string::npos);
  CHECK(out.find("hunter3") == std::string::npos);
  CHECK(out.find("\"user\": \"robot\"") != std::string::npos);
  env["SMTP_PORT"] = "not-a-port";
  CHECK(run({IAPOSTED_BIN, "--check-config"}, env, &out) == 2);
  CHECK(out.find("smtp.port") != std::string::npos);
}

TEST_CASE("iaposte style set|get against PostgreSQL: a tenant default, a sender's own, "
          "replaced on set; exit codes 2 on bad arguments, 1 when none or unreachable") {
  std::map<std::string, std::string> env{{"DATABASE_URL", stack_value("DATABASE_URL")}};
  std::string out;
  REQUIRE_MESSAGE(run({IAPOSTE_CLI_BIN, "migrate"}, env, &out) == 0, out);
  const std::string tenant = unique("clistyle");
  auto get = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv{IAPOSTE_CLI_BIN, "style", "get", "--tenant", tenant};
    argv.insert(argv.end(), extra.begin(), extra.end());
    int rc = run(argv, env, &out);
    // stdout and stderr are captured together: the JSON is the first '{' on.
    auto brace = out.find('{');
    json j = rc == 0 && brace != std::string::npos ? json::parse(out.substr(brace), nullptr, false)
                                                   : json();
    return std::make_pair(rc, j);
  };

  // Nothing yet.
  CHECK(get({}).first == 1);

  // The tenant's default.
  REQUIRE_MESSAGE(run({IAPOSTE_CLI_BIN, "style", "set", "--tenant", tenant, "--tone", "chaleureux",
                       "--formality", "vous", "--language", "fr", "--signature",
                       "Cordialement,\nL'équipe Acme"},
                      env, &out) == 0,
                  out);
  auto [rc, p] = get({});
  REQUIRE_MESSAGE(rc == 0, out);
  CHECK(p["tenant"] == tenant);
  CHECK(p["sender"] == "");
  CHECK(p["tone"] == "chaleureux");
  CHECK(p["formality"] == "vous");
  CHECK(p["language"] == "fr");
  CHECK(p["signature"] == "Cordialement,\nL'équipe Acme");

  // A sender of its own; another sender falls back to the tenant's default.
  REQUIRE_MESSAGE(run({IAPOSTE_CLI_BIN, "style", "set", "--tenant", tenant, "--sender",
                       "ventes@acme.fr", "--tone", "direct", "--formality", "tu"},
                      env, &out) == 0,
                  out);
  std::tie(rc, p) = get({"--sender", "ventes@acme.fr"});
  REQUIRE_MESSAGE(rc == 0, out);
  CHECK(p["sender"] == "ventes@acme.fr");
  CHECK(p["tone"] == "direct");
  CHECK(p["formality"] == "tu");
  CHECK(p["language"] == "");
  std::tie(rc, p) = get({"--sender", "autre@acme.fr"});
  REQUIRE_MESSAGE(rc == 0, out);
  CHECK(p["sender"] == "");
  CHECK(p["tone"] == "chaleureux");

  // set replaces the whole profile: options not given become empty.
  REQUIRE_MESSAGE(
      run({IAPOSTE_CLI_BIN, "style", "set", "--tenant", tenant, "--tone", "sobre"}, env, &out) == 0,
      out);
  std::tie(rc, p) = get({});
  REQUIRE_MESSAGE(rc == 0, out);
  CHECK(p["tone"] == "sobre");
  CHECK(p["formality"] == "");
  CHECK(p["signature"] == "");

  // Usage errors: 2, and nothing written.
  CHECK(run({IAPOSTE_CLI_BIN, "style"}, env, &out) == 2);
  CHECK(run({IAPOSTE_CLI_BIN, "style", "frobnicate", "--tenant", tenant}, env, &out) == 2);
  CHECK(run({IAPOSTE_CLI_BIN, "style", "get"}, env, &out) == 2);
  CHECK(run({IAPOSTE_CLI_BIN, "style", "set", "--tone", "x"}, env, &out) == 2);
  CHECK(run({IAPOSTE_CLI_BIN, "style", "set", "--tenant", tenant, "--formality", "vouvoyez"}, env,
            &out) == 2);
  CHECK(out.find("formality") != std::string::npos);
  CHECK(run({IAPOSTE_CLI_BIN, "style", "set", "--tenant", tenant, "--tone"}, env, &out) == 2);
  // A misspelt option is refused, not ignored (the profile would lose that field).
  CHECK(run({IAPOSTE_CLI_BIN, "style", "set", "--tenant", tenant, "--colour", "red"}, env, &out) ==
        2);
  CHECK(out.find("unknown option --colour") != std::string::npos);
  CHECK(run({IAPOSTE_CLI_BIN, "style", "get", "--tenant", tenant}, {{"DATABASE_URL", ""}}, &out) ==
        2);
  std::tie(rc, p) = get({});
  CHECK(rc == 0);
  CHECK(p["tone"] == "sobre");
  CHECK(p["formality"] == "");

  // PostgreSQL unreachable: 1, and the password is not printed.
  CHECK(run({IAPOSTE_CLI_BIN, "style", "get", "--tenant", tenant, "--database-url",
             "postgresql://iaposte:hunter2@127.0.0.1:1/iaposte"},
            env, &out) == 1);
  CHECK(out.find("hunter2") == std::string::npos);
}

} // namespace test_integration_daemon_cli_test
