// The [ai] section and its [[ai.providers]] tables: defaults, keys from files and the
// environment, clear errors, secrets hidden in describe().
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "config/config.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_config_ai_config_test {

using namespace iaposte;
namespace fs = std::filesystem;

namespace {

struct ai_env {
  std::map<std::string, std::string> vars{{"DATABASE_URL", "postgresql://u:pw@db/iaposte"}};
  config::env_lookup lookup() const {
    return [this](const char* n) -> const char* {
      auto it = vars.find(n);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

std::string write_ai_temp(const std::string& name, const std::string& text) {
  auto path = fs::temp_directory_path() / ("iaposte-ai-config-test-" + name);
  std::ofstream(path) << text;
  return path.string();
}

std::string ai_error(const std::string& toml, const ai_env& env = {}) {
  try {
    config::load(write_ai_temp("err.toml", toml), env.lookup());
  } catch (const config::config_error& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("[ai] providers are read in order, keys from a file or the environment") {
  auto key = write_ai_temp("key", "sk-from-file\n");
  auto path = write_ai_temp("ok.toml", R"(
[ai]
deadline_ms = 5000
cache_entries = 10
log_prompts = true

[[ai.providers]]
name = "openai"
base_url = "https://api.openai.com/v1"
model = "gpt-4o-mini"
api_key_file = ")" + key + R"("
max_concurrency = 3
breaker_failures = 4
temperature = 0.2

[[ai.providers]]
name = "local"
base_url = "http://127.0.0.1:8000/v1"
model = "mistral"
api_key_env = "LOCAL_KEY"
)");
  ai_env env;
  env.vars["LOCAL_KEY"] = "sk-from-env";
  env.vars["IAPOSTE_AI_CACHE_TTL_S"] = "60";
  auto cfg = config::load(path, env.lookup());
  CHECK(cfg.ai.deadline.count() == 5000);
  CHECK(cfg.ai.cache_entries == 10);
  CHECK(cfg.ai.cache_ttl.count() == 60);
  CHECK(cfg.ai.log_prompts);
  CHECK(cfg.ai.database_url == "postgresql://u:pw@db/iaposte");
  REQUIRE(cfg.ai.providers.size() == 2);
  CHECK(cfg.ai.providers[0].name == "openai");
  CHECK(cfg.ai.providers[0].api_key == "sk-from-file");
  CHECK(cfg.ai.providers[0].max_concurrency == 3);
  CHECK(cfg.ai.providers[0].breaker_failures == 4);
  CHECK(cfg.ai.providers[0].temperature == doctest::Approx(0.2));
  CHECK(cfg.ai.providers[1].api_key == "sk-from-env");
  const std::string described = config::describe(cfg).dump();
  CHECK(described.find("sk-from") == std::string::npos);
  CHECK(described.find("\"api_key\":\"(set)\"") != std::string::npos);
}

TEST_CASE("[ai] mistakes are named") {
  CHECK(ai_error("[[ai.providers]]\nbase_url = \"http://x/v1\"\nmodel = \"m\"\n") ==
        "ai.providers[0].name: must be set");
  CHECK(ai_error("[[ai.providers]]\nname = \"a\"\nbase_url = \"ftp://x\"\nmodel = \"m\"\n") ==
        "ai.providers[0].base_url: expected an http:// or https:// URL");
  CHECK(ai_error("[[ai.providers]]\nname = \"a\"\nbase_url = \"http://x\"\nmodel = \"m\"\n"
                 "api_key = \"sk\"\n") == "ai.providers[0].api_key: unknown key");
  CHECK(ai_error("[[ai.providers]]\nname = \"a\"\nbase_url = \"http://x\"\nmodel = \"m\"\n"
                 "api_key_env = \"NOPE\"\n") == "ai.providers[0].api_key_env: NOPE is not set");
  CHECK(ai_error("[[ai.providers]]\nname = \"a\"\nbase_url = \"http://x\"\nmodel = \"m\"\n"
                 "[[ai.providers]]\nname = \"a\"\nbase_url = \"http://y\"\nmodel = \"m\"\n") ==
        "ai.providers[1].name: \"a\" used twice");
  CHECK(ai_error("[ai]\ncache_ttl_s = 0\n").find("ai.cache_ttl_s") == 0);
  CHECK(ai_error("[ai]\nproviders = 3\n") ==
        "ai.providers: expected an array of tables ([[ai.providers]])");
}

} // namespace test_unit_config_ai_config_test
