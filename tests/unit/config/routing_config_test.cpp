// [routing] and [shaping]: keys, table forms, environment overrides, clear errors.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "config/config.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_config_routing_config_test {

using namespace iaposte;
namespace fs = std::filesystem;

namespace {

struct env_vars {
  std::map<std::string, std::string> vars{{"DATABASE_URL", "postgresql://x@h/db"}};
  config::env_lookup lookup() const {
    return [this](const char* n) -> const char* {
      auto it = vars.find(n);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

std::string write_temp(const std::string& name, const std::string& text) {
  auto path = fs::temp_directory_path() / ("iaposte-routing-config-test-" + name);
  std::ofstream(path) << text;
  return path.string();
}

std::string error_of(const std::string& text, const env_vars& env = {}) {
  try {
    config::load(write_temp("error.toml", text), env.lookup());
  } catch (const config::config_error& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("the example configuration routes through the relay, unshaped") {
  env_vars env;
  auto cfg = config::load(IAPOSTE_TEST_DATA "/../../config/iaposted.toml", env.lookup());
  CHECK(cfg.routing.mode == smtp::route::mode::relay);
  CHECK(cfg.routing.smtp.host == cfg.smtp.host); // [smtp] copied in
  CHECK(cfg.routing.direct.port == 25);
  CHECK(cfg.routing.direct.tls == smtp::tls_mode::opportunistic);
  CHECK(cfg.routing.shaping.destination_default.rate == 0);
  CHECK(cfg.routing.shaping.slow_down.factor == 0.5);
  auto d = config::describe(cfg);
  CHECK(d["routing"]["mode"] == "relay");
  CHECK(d["shaping"]["slow_down_cooldown_ms"] == 60000);
}

TEST_CASE("direct routing with per-domain TLS and shaping, in one-line and table forms") {
  auto path = write_temp("direct.toml", R"(
[smtp]
helo_name = "mail.example.org"
connect_timeout_ms = 5000
[routing]
mode = "direct"
mx_port = 2525
tls = "required"
tls_policies = "legacy.example=none, .corp.example=opportunistic"
nameservers = "127.0.0.1:5353 [::1]:53"
[shaping]
rate = 20
burst = 40
max_concurrent = 8
destinations = "gmail.com rate=5 max_concurrent=2; .yahoo.com rate=1.5"
[shaping.tenants.acme]
rate = 50
max_concurrent = 20
)");
  env_vars env;
  auto cfg = config::load(path, env.lookup());
  const auto& r = cfg.routing;
  CHECK(r.mode == smtp::route::mode::direct);
  CHECK(r.direct.port == 2525);
  CHECK(r.direct.tls == smtp::tls_mode::required);
  CHECK(r.direct.tls_policies.at("legacy.example") == smtp::tls_mode::none);
  CHECK(r.direct.tls_policies.at(".corp.example") == smtp::tls_mode::opportunistic);
  CHECK(r.direct.dns.nameservers == std::vector<std::string>{"127.0.0.1:5353", "[::1]:53"});
  CHECK(r.smtp.helo_name == "mail.example.org");
  CHECK(r.smtp.connect_timeout == std::chrono::milliseconds(5000));
  CHECK(r.shaping.destination_default.rate == 20);
  const auto& gmail = r.shaping.destinations.at("gmail.com");
  CHECK(gmail.rate == 5);
  CHECK(gmail.max_concurrent == 2);
  CHECK(gmail.burst == 40); // left out: the default
  CHECK(r.shaping.destinations.at(".yahoo.com").rate == 1.5);
  CHECK(r.shaping.tenants.at("acme").rate == 50);
  CHECK(r.shaping.tenants.at("acme").max_concurrent == 20);
}

TEST_CASE("the environment overrides routing and shaping keys") {
  env_vars env;
  env.vars["SMTP_ROUTING"] = "direct";
  env.vars["IAPOSTE_ROUTING_MX_PORT"] = "2526";
  env.vars["IAPOSTE_SHAPING_DESTINATIONS"] = "example.net rate=3";
  env.vars["IAPOSTE_SHAPING_SLOW_DOWN_COOLDOWN_MS"] = "5000";
  env.vars["DNS_NAMESERVERS"] = "10.0.0.53";
  auto cfg = config::load("", env.lookup());
  CHECK(cfg.routing.mode == smtp::route::mode::direct);
  CHECK(cfg.routing.direct.port == 2526);
  CHECK(cfg.routing.shaping.destinations.at("example.net").rate == 3);
  CHECK(cfg.routing.shaping.slow_down.cooldown == std::chrono::milliseconds(5000));
  CHECK(cfg.routing.direct.dns.nameservers == std::vector<std::string>{"10.0.0.53"});
}

TEST_CASE("bad routing and shaping values are refused, naming the key") {
  CHECK(error_of("[routing]\nmode = \"mx\"\n").find("routing.mode") != std::string::npos);
  CHECK(error_of("[routing]\ntls = \"implicit\"\n").find("routing.tls") != std::string::npos);
  CHECK(error_of("[routing]\ntls_policies = \"example.com\"\n").find("routing.tls_policies") !=
        std::string::npos);
  CHECK(error_of("[routing]\nnameservers = \"dns.google\"\n").find("routing.nameservers") !=
        std::string::npos);
  CHECK(error_of("[shaping]\ndestinations = \"gmail.com speed=5\"\n").find("unknown limit") !=
        std::string::npos);
  CHECK(error_of("[shaping]\nslow_down_factor = 1.5\n").find("shaping.slow_down_factor") !=
        std::string::npos);
  CHECK(error_of("[shaping]\nrate = -1\n").find("shaping.rate") != std::string::npos);
}

} // namespace test_unit_config_routing_config_test
