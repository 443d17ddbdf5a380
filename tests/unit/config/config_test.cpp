// Configuration loading: TOML, environment overrides, secret files, clear errors.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "config/config.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_config_config_test {

using namespace iaposte;
namespace fs = std::filesystem;

namespace {

struct fake_env {
  std::map<std::string, std::string> vars;
  config::env_lookup lookup() const {
    return [this](const char* n) -> const char* {
      auto it = vars.find(n);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

std::string write_temp(const std::string& name, const std::string& text) {
  auto path = fs::temp_directory_path() / ("iaposte-config-test-" + name);
  std::ofstream(path) << text;
  return path.string();
}

std::string error_of(const std::string& path, const fake_env& env) {
  try {
    config::load(path, env.lookup());
  } catch (const config::config_error& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("the example configuration loads with a database URL from the environment") {
  fake_env env{{{"DATABASE_URL", "postgresql://iaposte@127.0.0.1:5432/iaposte"}}};
  auto cfg = config::load(IAPOSTE_TEST_DATA "/../../config/iaposted.toml", env.lookup());
  CHECK(cfg.kafka.requests_topic == "iaposte.requests");
  CHECK(cfg.smtp.port == 25);
  CHECK(cfg.backoff.max_attempts == 5);
  CHECK(cfg.store.url == "postgresql://iaposte@127.0.0.1:5432/iaposte");
  CHECK(!cfg.instance_id.empty());
  CHECK(cfg.store.owner == cfg.instance_id);
}

TEST_CASE("environment variables override the file, well-known names and IAPOSTE_ names") {
  auto path = write_temp("override.toml", "[smtp]\nhost = \"relay.example.org\"\nport = 25\n");
  fake_env env{{{"DATABASE_URL", "postgresql://x@h/db"},
                {"SMTP_PORT", "587"},
                {"SMTP_TLS", "required"},
                {"IAPOSTE_RETRY_MAX_ATTEMPTS", "9"},
                {"IAPOSTE_KAFKA_CREATE_TOPICS", "false"},
                {"IAPOSTE_DELIVERY_LEASE_MS", "4500"},
                {"IAPOSTE_KAFKA_COMPRESSION", "zstd"},
                {"IAPOSTE_KAFKA_PUBLISH_ACCEPTED", "false"}}};
  auto cfg = config::load(path, env.lookup());
  CHECK(cfg.smtp.host == "relay.example.org");
  CHECK(cfg.smtp.port == 587);
  CHECK(cfg.smtp.tls == smtp::tls_mode::required);
  CHECK(cfg.backoff.max_attempts == 9);
  CHECK_FALSE(cfg.kafka.create_topics);
  CHECK(cfg.store.lease == std::chrono::seconds(5)); // rounded up to whole seconds
  CHECK(cfg.kafka.compression == "zstd");
  CHECK_FALSE(cfg.kafka.publish_accepted);
}

TEST_CASE("kafka.compression is one of librdkafka's codecs, lz4 by default") {
  fake_env env{{{"DATABASE_URL", "postgresql://x@h/db"}}};
  auto path = write_temp("compression.toml", "[kafka]\nlinger_ms = 5\n");
  CHECK(config::load(path, env.lookup()).kafka.compression == "lz4");
  path = write_temp("compression-bad.toml", "[kafka]\ncompression = \"brotli\"\n");
  CHECK(error_of(path, env) ==
        "kafka.compression: expected none, gzip, snappy, lz4 or zstd, got \"brotli\"");
}

TEST_CASE("kafka.publish_accepted is on by default, a boolean") {
  fake_env env{{{"DATABASE_URL", "postgresql://x@h/db"}}};
  auto path = write_temp("accepted.toml", "[kafka]\nlinger_ms = 5\n");
  CHECK(config::load(path, env.lookup()).kafka.publish_accepted);
  path = write_temp("accepted-off.toml", "[kafka]\npublish_accepted = false\n");
  CHECK_FALSE(config::load(path, env.lookup()).kafka.publish_accepted);
  path = write_temp("accepted-bad.toml", "[kafka]\npublish_accepted = \"maybe\"\n");
  CHECK(error_of(path, env).find("kafka.publish_accepted") != std::string::npos);
}

TEST_CASE("secrets come from files, relative names from $CREDENTIALS_DIRECTORY") {
  auto dir = fs::temp_directory_path() / "iaposte-config-creds";
  fs::create_directories(dir);
  std::ofstream(dir / "smtp-password") << "s3cret\n";
  std::ofstream(dir / "db") << "postgresql://iaposte:pw@db/iaposte\n";
  fake_env env{{{"CREDENTIALS_DIRECTORY", dir.string()},
                {"SMTP_USER", "robot"},
                {"SMTP_PASSWORD_FILE", "smtp-password"},
                {"DATABASE_URL_FILE", (dir / "db").string()}}};
  auto cfg = config::load("", env.lookup());
  CHECK(cfg.smtp.password == "s3cret");
  CHECK(cfg.store.url == "postgresql://iaposte:pw@db/iaposte");
  auto shown = config::describe(cfg).dump();
  CHECK(shown.find("s3cret") == std::string::npos);
  CHECK(shown.find(":pw@") == std::string::npos);
}

TEST_CASE("bad values are refused with the key named and no secret quoted") {
  fake_env env{{{"DATABASE_URL", "postgresql://x@h/db"}}};
  SUBCASE("unknown key") {
    CHECK(error_of(write_temp("unknown.toml", "[smtp]\nhots = \"x\"\n"), env) ==
          "smtp.hots: unknown key");
  }
  SUBCASE("wrong type") {
    CHECK(error_of(write_temp("type.toml", "[smtp]\nport = \"abc\"\n"), env).find("smtp.port") ==
          0);
  }
  SUBCASE("out of range") {
    env.vars["SMTP_PORT"] = "70000";
    CHECK(error_of("", env).find("smtp.port") == 0);
  }
  SUBCASE("lease below a second") {
    env.vars["IAPOSTE_DELIVERY_LEASE_MS"] = "10";
    CHECK(error_of("", env).find("delivery.lease_ms") == 0);
  }
  SUBCASE("bad tls mode") {
    env.vars["SMTP_TLS"] = "maybe";
    CHECK(error_of("", env).find("smtp.tls") == 0);
  }
  SUBCASE("syntax error names the line") {
    CHECK(error_of(write_temp("syntax.toml", "[smtp\nport = 1\n"), env).find(":1:") !=
          std::string::npos);
  }
  SUBCASE("user without password") {
    env.vars["SMTP_USER"] = "robot";
    CHECK(error_of("", env).find("smtp.password") == 0);
  }
  SUBCASE("missing database url") {
    fake_env empty;
    CHECK(error_of("", empty).find("database.url") == 0);
  }
  SUBCASE("unreadable secret file") {
    env.vars["SMTP_PASSWORD_FILE"] = "/nonexistent/pw";
    CHECK(error_of("", env) == "smtp.password_file: cannot read /nonexistent/pw");
  }
}

TEST_CASE("the heartbeat keys: an owner is never declared dead within three heartbeats") {
  fake_env env;
  env.vars["DATABASE_URL"] = "postgresql://localhost/iaposte";
  env.vars["IAPOSTE_DELIVERY_HEARTBEAT_MS"] = "2000";
  env.vars["IAPOSTE_DELIVERY_OWNER_DEAD_AFTER_MS"] = "5000";
  CHECK(error_of("", env).find("delivery.owner_dead_after_ms: expected 0 or at least 3 x") == 0);
  env.vars["IAPOSTE_DELIVERY_OWNER_DEAD_AFTER_MS"] = "6000";
  auto cfg = config::load("", env.lookup());
  CHECK(cfg.store.owner_dead_after == std::chrono::milliseconds(6000));
  CHECK(cfg.store.heartbeat_interval == std::chrono::milliseconds(2000));
  env.vars["IAPOSTE_DELIVERY_OWNER_DEAD_AFTER_MS"] = "0"; // leases only
  CHECK(config::load("", env.lookup()).store.owner_dead_after.count() == 0);
  env.vars["IAPOSTE_DELIVERY_HEARTBEAT_MS"] = "50";
  CHECK(error_of("", env).find("delivery.heartbeat_ms: expected at least 100") == 0);
}

TEST_CASE("the intake keys: max_parked, internal_error_attempts, max_metadata_bytes") {
  fake_env env;
  env.vars["DATABASE_URL"] = "postgresql://localhost/iaposte";
  env.vars["IAPOSTE_DELIVERY_MAX_PARKED"] = "7";
  env.vars["IAPOSTE_DELIVERY_INTERNAL_ERROR_ATTEMPTS"] = "5";
  env.vars["IAPOSTE_LIMITS_MAX_METADATA_BYTES"] = "1024";
  auto cfg = config::load("", env.lookup());
  CHECK(cfg.delivery.max_parked == 7);
  CHECK(cfg.delivery.internal_error_attempts == 5);
  CHECK(cfg.limits.max_metadata_bytes == 1024);
  env.vars["IAPOSTE_DELIVERY_INTERNAL_ERROR_ATTEMPTS"] = "0";
  CHECK(error_of("", env).find("delivery.internal_error_attempts") == 0);
}

TEST_CASE("dkim.keys, [unsubscribe] and [content]: read, resolved and checked") {
  fake_env env;
  env.vars["DATABASE_URL"] = "postgresql://localhost/iaposte";
  env.vars["CREDENTIALS_DIRECTORY"] = "/run/credentials/iaposted.service";
  env.vars["IAPOSTE_DKIM_KEYS"] =
      "acme:acme.fr:s2026r:rsa:acme-rsa.pem, *:iaposte.test:ed:ed25519:/etc/iaposte/ed.pem";
  env.vars["IAPOSTE_CONTENT_RAW_HTML_TENANTS"] = "acme, beta";
  env.vars["IAPOSTE_CONTENT_THREADS"] = "3";
  auto cfg = config::load("", env.lookup());
  REQUIRE(cfg.content.dkim_keys.size() == 2);
  CHECK(cfg.content.dkim_keys[0].tenant == "acme");
  CHECK(cfg.content.dkim_keys[0].key.domain == "acme.fr");
  CHECK(cfg.content.dkim_keys[0].key.selector == "s2026r");
  CHECK(cfg.content.dkim_keys[0].key.algo == dkim::algorithm::rsa_sha256);
  CHECK(cfg.content.dkim_keys[0].key.key_file == "/run/credentials/iaposted.service/acme-rsa.pem");
  CHECK(cfg.content.dkim_keys[1].tenant == "*");
  CHECK(cfg.content.dkim_keys[1].key.algo == dkim::algorithm::ed25519_sha256);
  CHECK(cfg.content.dkim_keys[1].key.key_file == "/etc/iaposte/ed.pem");
  CHECK(cfg.content.raw_html_tenants == std::set<std::string>{"acme", "beta"});
  CHECK(cfg.content.threads == 3);
  CHECK(cfg.unsubscribe.base_url.empty()); // off by default

  env.vars["IAPOSTE_DKIM_KEYS"] = "acme:acme.fr:rsa:acme.pem";
  CHECK(error_of("", env).find("dkim.keys: expected tenant:domain:selector:algorithm:file") == 0);
  env.vars["IAPOSTE_DKIM_KEYS"] = "acme:acme.fr:s:dsa:acme.pem";
  CHECK(error_of("", env).find("dkim.keys: ") == 0);
  env.vars.erase("IAPOSTE_DKIM_KEYS");

  env.vars["IAPOSTE_UNSUBSCRIBE_BASE_URL"] = "http://mail.acme.fr/unsubscribe/";
  env.vars["IAPOSTE_UNSUBSCRIBE_MAILTO"] = "stop@acme.fr";
  env.vars["IAPOSTE_UNSUBSCRIBE_SECRET_FILES"] = "new.key, old.key";
  CHECK(error_of("", env).find("https") != std::string::npos); // RFC 8058: https only
  env.vars["IAPOSTE_UNSUBSCRIBE_BASE_URL"] = "https://mail.acme.fr/unsubscribe/";
  cfg = config::load("", env.lookup());
  CHECK(cfg.unsubscribe.secret_files == std::vector<std::string>{"new.key", "old.key"}); // in order
  CHECK(cfg.unsubscribe.mailto == "stop@acme.fr");
}

} // namespace test_unit_config_config_test
