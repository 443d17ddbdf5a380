// The operator's tools against the real stack: iaposte enqueue/tail and iaposted --check-config.
#include <doctest/doctest.h>

#include "harness.hpp"

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
