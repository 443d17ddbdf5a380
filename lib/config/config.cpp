// Loads the TOML file, overlays the environment, reads secret files, checks every value.
#include "config/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include <toml++/toml.h>

namespace iaposte::config {
namespace {

// One configuration key: where it lives and how to store its checked value.
struct binding {
  std::string key; // "section.name"
  std::function<void(const std::string&)> set;
  std::vector<std::string> aliases; // well-known environment names
};

std::string env_name(const std::string& key) {
  std::string out = "IAPOSTE_";
  for (char c : key)
    out += c == '.' ? '_' : static_cast<char>(std::toupper(c));
  return out;
}

long long to_integer(const std::string& key, const std::string& v, long long lo, long long hi) {
  try {
    std::size_t used = 0;
    long long n = std::stoll(v, &used);
    if (used != v.size() || n < lo || n > hi) throw std::out_of_range(key);
    return n;
  } catch (const std::logic_error&) {
    throw config_error(key + ": expected an integer in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "], got \"" + v + "\"");
  }
}

double to_number(const std::string& key, const std::string& v) {
  try {
    std::size_t used = 0;
    double d = std::stod(v, &used);
    if (used != v.size() || d < 0) throw std::out_of_range(key);
    return d;
  } catch (const std::logic_error&) {
    throw config_error(key + ": expected a non-negative number, got \"" + v + "\"");
  }
}

bool to_bool(const std::string& key, const std::string& v) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  throw config_error(key + ": expected true or false, got \"" + v + "\"");
}

smtp::tls_mode to_tls(const std::string& key, const std::string& v) {
  if (v == "none") return smtp::tls_mode::none;
  if (v == "opportunistic") return smtp::tls_mode::opportunistic;
  if (v == "required" || v == "starttls") return smtp::tls_mode::required;
  if (v == "implicit") return smtp::tls_mode::implicit;
  throw config_error(key + ": expected none, opportunistic, required or implicit, got \"" + v +
                     "\"");
}

std::string read_secret_file(const std::string& key, std::string path, const env_lookup& env) {
  if (!path.empty() && path.front() != '/') {
    if (const char* dir = env("CREDENTIALS_DIRECTORY")) path = std::string(dir) + "/" + path;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error(key + ": cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
    s.pop_back();
  return s;
}

std::chrono::milliseconds ms(const std::string& key, const std::string& v) {
  return std::chrono::milliseconds{to_integer(key, v, 0, 86400000LL * 30)};
}

// "topic:delay_ms, topic:delay_ms" (ascending delays after sorting); "" = no retry topics.
std::vector<retry_tier> parse_tiers(const std::string& key, const std::string& v) {
  std::vector<retry_tier> tiers;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto trim = [](std::string x) {
      auto b = x.find_first_not_of(" \t");
      auto e = x.find_last_not_of(" \t");
      return b == std::string::npos ? std::string{} : x.substr(b, e - b + 1);
    };
    item = trim(item);
    if (item.empty()) continue;
    auto colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0)
      throw config_error(key + ": expected topic:delay_ms, got \"" + item + "\"");
    auto delay = ms(key, trim(item.substr(colon + 1)));
    if (delay < std::chrono::seconds(1))
      throw config_error(key + ": a retry topic's delay must be at least 1000 ms");
    tiers.push_back({trim(item.substr(0, colon)), delay});
  }
  std::sort(tiers.begin(), tiers.end(),
            [](const retry_tier& a, const retry_tier& b) { return a.delay < b.delay; });
  return tiers;
}

// "a, b, c" → its items, in order, blanks trimmed.
std::vector<std::string> parse_list(const std::string& v) {
  std::vector<std::string> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto b = item.find_first_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, item.find_last_not_of(" \t") - b + 1));
  }
  return out;
}

// "name:role:file, ..." → tokens (the server reads the files; secrets never pass here).
std::vector<admin::token> parse_tokens(const std::string& v, const env_lookup& env) {
  std::vector<admin::token> tokens;
  for (const auto& item : parse_list(v)) {
    auto c1 = item.find(':');
    auto c2 = c1 == std::string::npos ? c1 : item.find(':', c1 + 1);
    if (c2 == std::string::npos)
      throw config_error("admin.tokens: expected name:role:file, got \"" + item + "\"");
    admin::token t;
    t.name = item.substr(0, c1);
    auto role = item.substr(c1 + 1, c2 - c1 - 1);
    if (role == "read")
      t.role = admin::role::read;
    else if (role == "admin")
      t.role = admin::role::admin;
    else
      throw config_error("admin.tokens: role of " + t.name + " must be read or admin");
    t.file = item.substr(c2 + 1);
    if (!t.file.empty() && t.file.front() != '/')
      if (const char* dir = env("CREDENTIALS_DIRECTORY")) t.file = std::string(dir) + "/" + t.file;
    tokens.push_back(std::move(t));
  }
  return tokens;
}

// "tenant:domain:selector:algorithm:file, ..." → DKIM keys (lib/content loads the files; a
// relative file is looked up in $CREDENTIALS_DIRECTORY). tenant "*": every tenant.
std::vector<content::dkim_key> parse_dkim_keys(const std::string& v, const env_lookup& env) {
  std::vector<content::dkim_key> keys;
  for (const auto& item : parse_list(v)) {
    std::vector<std::string> f;
    for (std::size_t start = 0, colon; f.size() < 4; start = colon + 1) {
      colon = item.find(':', start);
      if (colon == std::string::npos) break;
      f.push_back(item.substr(start, colon - start));
      if (f.size() == 4) f.push_back(item.substr(colon + 1));
    }
    if (f.size() != 5 || f[0].empty() || f[1].empty() || f[2].empty() || f[4].empty())
      throw config_error("dkim.keys: expected tenant:domain:selector:algorithm:file, got \"" +
                         item + "\"");
    content::dkim_key k;
    k.tenant = f[0];
    k.key.domain = f[1];
    k.key.selector = f[2];
    try {
      k.key.algo = dkim::parse_algorithm(f[3]);
    } catch (const std::exception& e) {
      throw config_error("dkim.keys: " + std::string(e.what()));
    }
    k.key.key_file = f[4];
    if (k.key.key_file.front() != '/')
      if (const char* dir = env("CREDENTIALS_DIRECTORY"))
        k.key.key_file = std::string(dir) + "/" + k.key.key_file;
    keys.push_back(std::move(k));
  }
  return keys;
}

std::string tiers_text(const std::vector<retry_tier>& tiers) {
  std::string out;
  for (const auto& t : tiers)
    out += (out.empty() ? "" : ",") + t.topic + ":" + std::to_string(t.delay.count());
  return out;
}
using add_fn = std::function<void(std::string, std::function<void(const std::string&)>,
                                  std::vector<std::string>)>;
void routing_bindings(smtp::routing_config& r, const add_fn& add);

std::vector<binding> bindings(daemon_config& c, std::map<std::string, std::string>& files) {
  auto text = [](std::string& dst) { return [&dst](const std::string& v) { dst = v; }; };
  std::vector<binding> b;
  auto add = [&](std::string key, std::function<void(const std::string&)> set,
                 std::vector<std::string> aliases = {}) {
    b.push_back({std::move(key), std::move(set), std::move(aliases)});
  };
  add("daemon.instance_id", text(c.instance_id));
  add("log.level",
      [&c](const std::string& v) {
        static const char* levels[] = {"trace", "debug",    "info", "warn",
                                       "error", "critical", "off"};
        for (auto* l : levels)
          if (v == l) {
            c.log_level = v;
            return;
          }
        throw config_error("log.level: expected trace, debug, info, warn, error, critical or "
                           "off, got \"" +
                           v + "\"");
      },
      {"LOG_LEVEL"});

  auto& k = c.kafka;
  add("kafka.brokers", text(k.brokers), {"KAFKA_BROKERS"});
  add("kafka.group_id", text(k.group_id), {"KAFKA_GROUP_ID"});
  add("kafka.group_instance_id", text(k.group_instance_id));
  add("kafka.requests_topic", text(k.requests_topic));
  add("kafka.status_topic", text(k.status_topic));
  add("kafka.dlq_topic", text(k.dlq_topic));
  add("kafka.create_topics",
      [&k](const std::string& v) { k.create_topics = to_bool("kafka.create_topics", v); });
  add("kafka.topic_partitions", [&k](const std::string& v) {
    k.topic_partitions = static_cast<int>(to_integer("kafka.topic_partitions", v, 1, 10000));
  });
  add("kafka.session_timeout_ms",
      [&k](const std::string& v) { k.session_timeout = ms("kafka.session_timeout_ms", v); });
  add("kafka.linger_ms", [&k](const std::string& v) { k.linger = ms("kafka.linger_ms", v); });
  add("kafka.compression", [&k](const std::string& v) {
    if (v != "none" && v != "gzip" && v != "snappy" && v != "lz4" && v != "zstd")
      throw config_error("kafka.compression: expected none, gzip, snappy, lz4 or zstd, got \"" + v +
                         "\"");
    k.compression = v;
  });
  add("kafka.commit_interval_ms",
      [&k](const std::string& v) { k.commit_interval = ms("kafka.commit_interval_ms", v); });
  add("kafka.publish_accepted",
      [&k](const std::string& v) { k.publish_accepted = to_bool("kafka.publish_accepted", v); });

  auto& s = c.smtp;
  add("smtp.host", text(s.host), {"SMTP_SERVER", "SMTP_HOST"});
  add("smtp.port",
      [&s](const std::string& v) {
        s.port = static_cast<std::uint16_t>(to_integer("smtp.port", v, 1, 65535));
      },
      {"SMTP_PORT"});
  add("smtp.helo_name", text(s.helo_name), {"SMTP_HELO_NAME"});
  add("smtp.tls", [&s](const std::string& v) { s.tls = to_tls("smtp.tls", v); }, {"SMTP_TLS"});
  add("smtp.ca_file", text(s.ca_file));
  add("smtp.verify_peer",
      [&s](const std::string& v) { s.verify_peer = to_bool("smtp.verify_peer", v); });
  add("smtp.user", text(s.user), {"SMTP_USER"});
  add("smtp.password", text(s.password), {"SMTP_PASSWORD"});
  add("smtp.password_file", text(files["smtp.password"]), {"SMTP_PASSWORD_FILE"});
  add("smtp.oauth2_token", text(s.oauth2_token), {"SMTP_OAUTH2_TOKEN"});
  add("smtp.oauth2_token_file", text(files["smtp.oauth2_token"]), {"SMTP_OAUTH2_TOKEN_FILE"});
  add("smtp.allow_plaintext_auth", [&s](const std::string& v) {
    s.allow_plaintext_auth = to_bool("smtp.allow_plaintext_auth", v);
  });
  add("smtp.connect_timeout_ms",
      [&s](const std::string& v) { s.connect_timeout = ms("smtp.connect_timeout_ms", v); });
  add("smtp.command_timeout_ms",
      [&s](const std::string& v) { s.command_timeout = ms("smtp.command_timeout_ms", v); });
  add("smtp.data_timeout_ms",
      [&s](const std::string& v) { s.data_timeout = ms("smtp.data_timeout_ms", v); });
  // RFC 5321 §4.5.3.2 per phase; 0 (the default) inherits the coarse timeout above.
  for (auto [key, field] : {std::pair{"smtp.greeting_timeout_ms", &s.greeting_timeout},
                            std::pair{"smtp.mail_timeout_ms", &s.mail_timeout},
                            std::pair{"smtp.rcpt_timeout_ms", &s.rcpt_timeout},
                            std::pair{"smtp.data_start_timeout_ms", &s.data_start_timeout},
                            std::pair{"smtp.data_block_timeout_ms", &s.data_block_timeout},
                            std::pair{"smtp.final_dot_timeout_ms", &s.final_dot_timeout}})
    add(key, [key = std::string(key), field](const std::string& v) { *field = ms(key, v); });
  add("smtp.max_connections", [&s](const std::string& v) {
    s.max_connections = static_cast<std::size_t>(to_integer("smtp.max_connections", v, 1, 10000));
  });
  add("smtp.max_messages_per_connection", [&s](const std::string& v) {
    s.max_messages_per_connection =
        static_cast<std::size_t>(to_integer("smtp.max_messages_per_connection", v, 1, 1000000));
  });
  add("smtp.idle_timeout_ms",
      [&s](const std::string& v) { s.idle_timeout = ms("smtp.idle_timeout_ms", v); });

  auto& d = c.store;
  add("database.url", text(d.url), {"DATABASE_URL"});
  add("database.url_file", text(files["database.url"]), {"DATABASE_URL_FILE"});
  add("database.batch_max", [&d](const std::string& v) {
    d.batch_max = static_cast<std::size_t>(to_integer("database.batch_max", v, 1, 100000));
  });
  add("database.retry_interval_ms",
      [&d](const std::string& v) { d.retry_interval = ms("database.retry_interval_ms", v); });

  auto& l = c.limits;
  add("limits.max_request_bytes", [&l](const std::string& v) {
    l.max_request_bytes =
        static_cast<std::size_t>(to_integer("limits.max_request_bytes", v, 1024, 64 << 20));
  });
  add("limits.max_body_bytes", [&l](const std::string& v) {
    l.max_body_bytes =
        static_cast<std::size_t>(to_integer("limits.max_body_bytes", v, 1, 64 << 20));
  });
  add("limits.max_metadata_bytes", [&l](const std::string& v) {
    l.max_metadata_bytes =
        static_cast<std::size_t>(to_integer("limits.max_metadata_bytes", v, 2, 1 << 20));
  });
  add("limits.max_recipients", [&l](const std::string& v) {
    l.max_recipients = static_cast<std::size_t>(to_integer("limits.max_recipients", v, 1, 10000));
  });

  auto& r = c.backoff;
  add("retry.max_attempts", [&r](const std::string& v) {
    r.max_attempts = static_cast<int>(to_integer("retry.max_attempts", v, 1, 1000));
  });
  add("retry.initial_ms", [&r](const std::string& v) { r.initial = ms("retry.initial_ms", v); });
  add("retry.multiplier",
      [&r](const std::string& v) { r.multiplier = to_number("retry.multiplier", v); });
  add("retry.max_delay_ms",
      [&r](const std::string& v) { r.max_delay = ms("retry.max_delay_ms", v); });
  add("retry.jitter", [&r](const std::string& v) {
    r.jitter = to_number("retry.jitter", v);
    if (r.jitter > 1) throw config_error("retry.jitter: expected a fraction in [0, 1]");
  });

  auto& a = c.admin;
  add("admin.enabled", [&a](const std::string& v) { a.enabled = to_bool("admin.enabled", v); });
  add("admin.address", text(a.address));
  add("admin.port", [&a](const std::string& v) {
    a.port = static_cast<std::uint16_t>(to_integer("admin.port", v, 0, 65535));
  });
  add("admin.metrics_require_token", [&a](const std::string& v) {
    a.metrics_require_token = to_bool("admin.metrics_require_token", v);
  });
  add("admin.tokens", text(files["admin.tokens"]));

  auto& dv = c.delivery;
  add("retry.in_process_max_ms",
      [&dv](const std::string& v) { dv.in_process_max = ms("retry.in_process_max_ms", v); });
  add("retry.tiers",
      [&dv](const std::string& v) { dv.retry_tiers = parse_tiers("retry.tiers", v); });
  add("delivery.guarantee", [&dv](const std::string& v) {
    if (v == "at_most_once")
      dv.at_most_once = true;
    else if (v == "at_least_once")
      dv.at_most_once = false;
    else
      throw config_error("delivery.guarantee: expected at_most_once or at_least_once, got \"" + v +
                         "\"");
  });
  add("delivery.lifetime_ms", [&dv](const std::string& v) {
    dv.lifetime = ms("delivery.lifetime_ms", v);
    if (dv.lifetime < std::chrono::seconds(1))
      throw config_error("delivery.lifetime_ms: expected at least 1000");
  });
  add("delivery.max_in_flight", [&dv](const std::string& v) {
    dv.max_in_flight =
        static_cast<std::size_t>(to_integer("delivery.max_in_flight", v, 1, 1000000));
  });
  add("delivery.message_id_domain", text(dv.message_id_domain));
  add("delivery.drain_timeout_ms",
      [&dv](const std::string& v) { dv.drain_timeout = ms("delivery.drain_timeout_ms", v); });
  add("delivery.lease_ms", [&c](const std::string& v) {
    auto lease = ms("delivery.lease_ms", v);
    if (lease < std::chrono::seconds(1))
      throw config_error("delivery.lease_ms: expected at least 1000");
    c.store.lease = std::chrono::ceil<std::chrono::seconds>(lease);
  });
  add("delivery.max_parked", [&dv](const std::string& v) {
    dv.max_parked = static_cast<std::size_t>(to_integer("delivery.max_parked", v, 0, 1000000));
  });
  add("delivery.internal_error_attempts", [&dv](const std::string& v) {
    dv.internal_error_attempts =
        static_cast<int>(to_integer("delivery.internal_error_attempts", v, 1, 100));
  });
  add("delivery.heartbeat_ms", [&c](const std::string& v) {
    c.store.heartbeat_interval = ms("delivery.heartbeat_ms", v);
    if (c.store.heartbeat_interval < std::chrono::milliseconds(100))
      throw config_error("delivery.heartbeat_ms: expected at least 100");
  });
  add("delivery.owner_dead_after_ms", [&c](const std::string& v) {
    c.store.owner_dead_after = ms("delivery.owner_dead_after_ms", v);
  });
  add("delivery.probe_smtp_at_start", [&dv](const std::string& v) {
    dv.probe_smtp_at_start = to_bool("delivery.probe_smtp_at_start", v);
  });
  routing_bindings(c.routing, [&](std::string key, std::function<void(const std::string&)> set,
                                  std::vector<std::string> aliases) {
    add(std::move(key), std::move(set), std::move(aliases));
  });
  auto& ai = c.ai;
  add("ai.deadline_ms", [&ai](const std::string& v) { ai.deadline = ms("ai.deadline_ms", v); });
  add("ai.cache_entries", [&ai](const std::string& v) {
    ai.cache_entries = static_cast<std::size_t>(to_integer("ai.cache_entries", v, 0, 10000000));
  });
  add("ai.cache_max_bytes", [&ai](const std::string& v) {
    ai.cache_max_bytes =
        static_cast<std::size_t>(to_integer("ai.cache_max_bytes", v, 0, 1LL << 40));
  });
  add("ai.cache_ttl_s", [&ai](const std::string& v) {
    ai.cache_ttl = std::chrono::seconds{to_integer("ai.cache_ttl_s", v, 1, 86400LL * 365)};
  });
  add("ai.pg_cache", [&ai](const std::string& v) { ai.pg_cache = to_bool("ai.pg_cache", v); });
  add("ai.pg_timeout_ms",
      [&ai](const std::string& v) { ai.pg_timeout = ms("ai.pg_timeout_ms", v); });
  add("ai.style_ttl_s", [&ai](const std::string& v) {
    ai.style_ttl = std::chrono::seconds{to_integer("ai.style_ttl_s", v, 0, 86400)};
  });
  add("ai.max_subject_chars", [&ai](const std::string& v) {
    ai.max_subject_chars = static_cast<std::size_t>(to_integer("ai.max_subject_chars", v, 1, 998));
  });
  add("ai.max_text_chars", [&ai](const std::string& v) {
    ai.max_text_chars = static_cast<std::size_t>(to_integer("ai.max_text_chars", v, 1, 64 << 20));
  });
  add("ai.max_html_chars", [&ai](const std::string& v) {
    ai.max_html_chars = static_cast<std::size_t>(to_integer("ai.max_html_chars", v, 1, 64 << 20));
  });
  add("ai.hold_negative", text(c.delivery.hold_negative));
  add("dkim.keys", text(files["dkim.keys"]));
  auto& u = c.unsubscribe;
  add("unsubscribe.base_url", text(u.base_url));
  add("unsubscribe.mailto", text(u.mailto));
  add("unsubscribe.path_prefix", text(u.path_prefix));
  add("unsubscribe.secret_files", [&u](const std::string& v) {
    u.secret_files = parse_list(v); // in order: the first signs
  });
  add("unsubscribe.store_timeout_ms",
      [&u](const std::string& v) { u.store_timeout = ms("unsubscribe.store_timeout_ms", v); });
  add("unsubscribe.allow_http",
      [&u](const std::string& v) { u.allow_http = to_bool("unsubscribe.allow_http", v); });
  add("content.raw_html_tenants", [&c](const std::string& v) {
    const auto names = parse_list(v);
    c.content.raw_html_tenants = {names.begin(), names.end()};
  });
  add("content.threads", [&c](const std::string& v) {
    c.content.threads = static_cast<std::size_t>(to_integer("content.threads", v, 1, 64));
  });
  add("ai.max_waiting", [&c](const std::string& v) {
    c.delivery.ai_max_waiting =
        static_cast<std::size_t>(to_integer("ai.max_waiting", v, 0, 1000000));
  });
  add("ai.log_prompts",
      [&ai](const std::string& v) { ai.log_prompts = to_bool("ai.log_prompts", v); });
  return b;
}

// [[ai.providers]]: one table per provider, in fallback order. The API key comes from a file
// (api_key_file, relative to $CREDENTIALS_DIRECTORY) or an environment variable (api_key_env),
// never from the TOML file itself.
std::vector<ai::provider_config> providers(const toml::table& doc, const env_lookup& env) {
  std::vector<ai::provider_config> out;
  const auto* ai = doc["ai"].as_table();
  if (!ai) return out;
  const auto* node = ai->get("providers");
  if (!node) return out;
  const auto* list = node->as_array();
  if (!list) throw config_error("ai.providers: expected an array of tables ([[ai.providers]])");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string where = "ai.providers[" + std::to_string(i) + "]";
    const auto* t = list->get(i)->as_table();
    if (!t) throw config_error(where + ": expected a table");
    ai::provider_config p;
    std::string key_file, key_env;
    std::map<std::string, std::function<void(const std::string&)>> keys{
        {"name", [&](const std::string& v) { p.name = v; }},
        {"base_url", [&](const std::string& v) { p.base_url = v; }},
        {"model", [&](const std::string& v) { p.model = v; }},
        {"api_key_file", [&](const std::string& v) { key_file = v; }},
        {"api_key_env", [&](const std::string& v) { key_env = v; }},
        {"ca_file", [&](const std::string& v) { p.ca_file = v; }},
        {"verify_peer",
         [&](const std::string& v) { p.verify_peer = to_bool(where + ".verify_peer", v); }},
        {"connect_timeout_ms",
         [&](const std::string& v) { p.connect_timeout = ms(where + ".connect_timeout_ms", v); }},
        {"timeout_ms", [&](const std::string& v) { p.timeout = ms(where + ".timeout_ms", v); }},
        {"max_concurrency",
         [&](const std::string& v) {
           p.max_concurrency =
               static_cast<std::size_t>(to_integer(where + ".max_concurrency", v, 1, 10000));
         }},
        {"max_retries",
         [&](const std::string& v) {
           p.max_retries = static_cast<int>(to_integer(where + ".max_retries", v, 0, 100));
         }},
        {"retry_initial_ms",
         [&](const std::string& v) { p.retry_initial = ms(where + ".retry_initial_ms", v); }},
        {"retry_max_ms",
         [&](const std::string& v) { p.retry_max = ms(where + ".retry_max_ms", v); }},
        {"breaker_failures",
         [&](const std::string& v) {
           p.breaker_failures =
               static_cast<int>(to_integer(where + ".breaker_failures", v, 1, 10000));
         }},
        {"breaker_cooldown_ms",
         [&](const std::string& v) { p.breaker_cooldown = ms(where + ".breaker_cooldown_ms", v); }},
        {"idle_timeout_ms",
         [&](const std::string& v) { p.idle_timeout = ms(where + ".idle_timeout_ms", v); }},
        {"temperature",
         [&](const std::string& v) {
           p.temperature = to_number(where + ".temperature", v);
           if (p.temperature > 2) throw config_error(where + ".temperature: expected [0, 2]");
         }},
        {"max_tokens",
         [&](const std::string& v) {
           p.max_tokens = static_cast<int>(to_integer(where + ".max_tokens", v, 1, 1000000));
         }},
    };
    for (const auto& [name, value] : *t) {
      const std::string k(name.str());
      auto it = keys.find(k);
      if (it == keys.end()) throw config_error(where + "." + k + ": unknown key");
      if (auto sv = value.value_exact<std::string>())
        it->second(*sv);
      else if (auto iv = value.value_exact<int64_t>())
        it->second(std::to_string(*iv));
      else if (auto fv = value.value_exact<double>()) {
        std::ostringstream os;
        os << *fv;
        it->second(os.str());
      } else if (auto bv = value.value_exact<bool>())
        it->second(*bv ? "true" : "false");
      else
        throw config_error(where + "." + k + ": expected a string, number or boolean");
    }
    if (p.name.empty()) throw config_error(where + ".name: must be set");
    if (p.name == "template") throw config_error(where + ".name: \"template\" is reserved");
    for (const auto& q : out)
      if (q.name == p.name) throw config_error(where + ".name: \"" + p.name + "\" used twice");
    if (p.base_url.rfind("http://", 0) != 0 && p.base_url.rfind("https://", 0) != 0)
      throw config_error(where + ".base_url: expected an http:// or https:// URL");
    if (p.model.empty()) throw config_error(where + ".model: must be set");
    if (!key_file.empty())
      p.api_key = read_secret_file(where + ".api_key_file", key_file, env);
    else if (!key_env.empty()) {
      const char* v = env(key_env.c_str());
      if (!v || !*v) throw config_error(where + ".api_key_env: " + key_env + " is not set");
      p.api_key = v;
    }
    out.push_back(std::move(p));
  }
  return out;
}

// --- [routing] and [shaping] (issue 4, items 7 and 8) ---

// "example.com=required .bank.example=required legacy.example=none" (commas or spaces).
std::map<std::string, smtp::tls_mode, std::less<>> to_tls_policies(const std::string& key,
                                                                   const std::string& v) {
  std::map<std::string, smtp::tls_mode, std::less<>> out;
  std::string item;
  std::istringstream in(v);
  while (in >> item) {
    while (!item.empty() && item.back() == ',')
      item.pop_back();
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw config_error(key + ": expected domain=none|opportunistic|required, got \"" + item +
                         "\"");
    auto mode = to_tls(key, item.substr(eq + 1));
    if (mode == smtp::tls_mode::implicit)
      throw config_error(key + ": implicit TLS is not a policy for MX delivery (port 25)");
    out[item.substr(0, eq)] = mode;
  }
  return out;
}

// One limits field from "name=value".
void set_limit(const std::string& key, smtp::shaping::limits& l, const std::string& name,
               const std::string& value) {
  auto count = [&](std::size_t& dst) {
    dst = static_cast<std::size_t>(to_integer(key + " " + name, value, 0, 1000000));
  };
  if (name == "max_concurrent")
    count(l.max_concurrent);
  else if (name == "rate")
    l.rate = to_number(key + " " + name, value);
  else if (name == "burst")
    l.burst = to_number(key + " " + name, value);
  else if (name == "max_connections")
    count(l.max_connections);
  else if (name == "max_messages_per_connection")
    count(l.max_messages_per_connection);
  else
    throw config_error(key + ": unknown limit \"" + name +
                       "\" (max_concurrent, rate, burst, max_connections, "
                       "max_messages_per_connection)");
}

// "gmail.com rate=5 burst=10 max_concurrent=4; .yahoo.com rate=2": entries by ';', each a
// name (domain, ".parent" or tenant) and its limits; fields not given take `defaults`.
std::map<std::string, smtp::shaping::limits, std::less<>>
to_limits_map(const std::string& key, const std::string& v, const smtp::shaping::limits& defaults) {
  std::map<std::string, smtp::shaping::limits, std::less<>> out;
  std::istringstream entries(v);
  std::string entry;
  while (std::getline(entries, entry, ';')) {
    std::istringstream words(entry);
    std::string name, field;
    if (!(words >> name)) continue;
    if (name.find('=') != std::string::npos)
      throw config_error(key + ": each entry starts with a name, got \"" + name + "\"");
    smtp::shaping::limits l = defaults;
    while (words >> field) {
      auto eq = field.find('=');
      if (eq == std::string::npos)
        throw config_error(key + ": expected name=value, got \"" + field + "\"");
      set_limit(key, l, field.substr(0, eq), field.substr(eq + 1));
    }
    out[name] = l;
  }
  return out;
}

void routing_bindings(smtp::routing_config& r, const add_fn& add) {
  auto count = [](const char* key, std::size_t& dst, long long lo, long long hi) {
    return [key, &dst, lo, hi](const std::string& v) {
      dst = static_cast<std::size_t>(to_integer(key, v, lo, hi));
    };
  };
  auto number = [](const char* key, double& dst) {
    return [key, &dst](const std::string& v) { dst = to_number(key, v); };
  };
  auto millis = [](const char* key, std::chrono::milliseconds& dst) {
    return [key, &dst](const std::string& v) { dst = ms(key, v); };
  };

  add("routing.mode",
      [&r](const std::string& v) {
        if (v == "relay")
          r.mode = smtp::route::mode::relay;
        else if (v == "direct")
          r.mode = smtp::route::mode::direct;
        else
          throw config_error("routing.mode: expected relay or direct, got \"" + v + "\"");
      },
      {"SMTP_ROUTING"});
  auto& d = r.direct;
  add("routing.mx_port",
      [&d](const std::string& v) {
        d.port = static_cast<std::uint16_t>(to_integer("routing.mx_port", v, 1, 65535));
      },
      {});
  add("routing.tls",
      [&d](const std::string& v) {
        d.tls = to_tls("routing.tls", v);
        if (d.tls == smtp::tls_mode::implicit)
          throw config_error("routing.tls: expected none, opportunistic or required");
      },
      {});
  add("routing.tls_policies",
      [&d](const std::string& v) { d.tls_policies = to_tls_policies("routing.tls_policies", v); },
      {});
  add("routing.nameservers",
      [&d](const std::string& v) {
        d.dns.nameservers.clear();
        std::string item;
        std::istringstream in(v);
        while (in >> item) {
          while (!item.empty() && item.back() == ',')
            item.pop_back();
          if (item.empty()) continue;
          if (dns::nameserver_csv_entry(item).empty())
            throw config_error("routing.nameservers: not an address[:port]: \"" + item + "\"");
          d.dns.nameservers.push_back(item);
        }
      },
      {"DNS_NAMESERVERS"});
  add("routing.dns_timeout_ms", millis("routing.dns_timeout_ms", d.dns.timeout), {});
  add("routing.dns_tries",
      [&d](const std::string& v) {
        d.dns.tries = static_cast<int>(to_integer("routing.dns_tries", v, 1, 10));
      },
      {});
  add("routing.dns_max_in_flight",
      count("routing.dns_max_in_flight", d.dns.max_in_flight, 1, 100000), {});
  add("routing.max_mx_hosts", count("routing.max_mx_hosts", d.dns.max_mx_hosts, 1, 100), {});
  add("routing.max_addresses", count("routing.max_addresses", d.max_addresses, 1, 100), {});
  add("routing.client_idle_timeout_ms",
      millis("routing.client_idle_timeout_ms", d.client_idle_timeout), {});

  auto& s = r.shaping;
  auto& dl = s.destination_default;
  add("shaping.max_concurrent", count("shaping.max_concurrent", dl.max_concurrent, 0, 1000000), {});
  add("shaping.rate", number("shaping.rate", dl.rate), {});
  add("shaping.burst", number("shaping.burst", dl.burst), {});
  add("shaping.max_connections", count("shaping.max_connections", dl.max_connections, 0, 10000),
      {});
  add("shaping.max_messages_per_connection",
      count("shaping.max_messages_per_connection", dl.max_messages_per_connection, 0, 1000000), {});
  auto& tl = s.tenant_default;
  add("shaping.tenant_max_concurrent",
      count("shaping.tenant_max_concurrent", tl.max_concurrent, 0, 1000000), {});
  add("shaping.tenant_rate", number("shaping.tenant_rate", tl.rate), {});
  add("shaping.tenant_burst", number("shaping.tenant_burst", tl.burst), {});
  // Per-name entries take the defaults above for what they leave out: bound after them (the
  // binding order is the order values are applied in).
  add("shaping.destinations",
      [&s](const std::string& v) {
        s.destinations = to_limits_map("shaping.destinations", v, s.destination_default);
      },
      {});
  add("shaping.tenants",
      [&s](const std::string& v) {
        s.tenants = to_limits_map("shaping.tenants", v, s.tenant_default);
      },
      {});
  auto& sd = s.slow_down;
  add("shaping.slow_down_factor",
      [&sd](const std::string& v) {
        sd.factor = to_number("shaping.slow_down_factor", v);
        if (!(sd.factor > 0 && sd.factor < 1))
          throw config_error("shaping.slow_down_factor: expected a number in (0, 1)");
      },
      {});
  add("shaping.slow_down_min_rate", number("shaping.slow_down_min_rate", sd.min_rate), {});
  add("shaping.slow_down_unlimited_rate",
      number("shaping.slow_down_unlimited_rate", sd.unlimited_rate), {});
  add("shaping.slow_down_cooldown_ms", millis("shaping.slow_down_cooldown_ms", sd.cooldown), {});
  add("shaping.slow_down_settle_ms", millis("shaping.slow_down_settle_ms", sd.settle), {});
}

// [shaping.destinations."gmail.com"] / [shaping.tenants.acme] / [routing.tls_policies] tables,
// as the one-line text their keys also take (so that the environment can override them).
std::optional<std::string> table_as_text(const std::string& key, const toml::table& t) {
  auto scalar = [&](const std::string& where, const toml::node& n) {
    if (auto s = n.value_exact<std::string>()) return *s;
    if (auto i = n.value_exact<int64_t>()) return std::to_string(*i);
    if (auto f = n.value_exact<double>()) {
      std::ostringstream os;
      os << *f;
      return os.str();
    }
    throw config_error(where + ": expected a string or a number");
  };
  std::string out;
  if (key == "routing.tls_policies") {
    for (const auto& [domain, mode] : t)
      out += std::string(domain.str()) + "=" + scalar(key, mode) + " ";
    return out;
  }
  if (key != "shaping.destinations" && key != "shaping.tenants") return std::nullopt;
  for (const auto& [name, node] : t) {
    const auto* fields = node.as_table();
    if (!fields) throw config_error(key + "." + std::string(name.str()) + ": expected a table");
    out += std::string(name.str());
    for (const auto& [field, value] : *fields)
      out += " " + std::string(field.str()) + "=" + scalar(key, value);
    out += "; ";
  }
  return out;
}

// Flattens the TOML document into "section.key" → text, rejecting unknown keys.
std::map<std::string, std::string> flatten(const toml::table& doc,
                                           const std::vector<binding>& known) {
  std::map<std::string, std::string> out;
  auto is_known = [&](const std::string& key) {
    for (const auto& b : known)
      if (b.key == key) return true;
    return false;
  };
  for (const auto& [section, node] : doc) {
    const auto* table = node.as_table();
    if (!table)
      throw config_error(std::string(section.str()) + ": expected a [" +
                         std::string(section.str()) + "] table");
    for (const auto& [name, value] : *table) {
      std::string key = std::string(section.str()) + "." + std::string(name.str());
      if (key == "ai.providers") continue; // an array of tables: providers()
      if (!is_known(key)) throw config_error(key + ": unknown key");
      if (const auto* sub = value.as_table()) {
        auto text = table_as_text(key, *sub);
        if (!text) throw config_error(key + ": expected a string, number or boolean");
        out[key] = *text;
      } else if (auto s = value.value_exact<std::string>())
        out[key] = *s;
      else if (auto i = value.value_exact<int64_t>())
        out[key] = std::to_string(*i);
      else if (auto f = value.value_exact<double>()) {
        std::ostringstream os;
        os << *f;
        out[key] = os.str();
      } else if (auto bo = value.value_exact<bool>())
        out[key] = *bo ? "true" : "false";
      else
        throw config_error(key + ": expected a string, number or boolean");
    }
  }
  return out;
}

// The host name: stable across restarts, so that a restarted daemon resumes its own claims
// at once instead of waiting for their lease. Several instances on one host need distinct
// daemon.instance_id values (the systemd unit passes one).
std::string default_instance_id() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

} // namespace

daemon_config load(const std::string& path, const env_lookup& env) {
  daemon_config cfg;
  std::map<std::string, std::string> files;
  auto known = bindings(cfg, files);

  std::map<std::string, std::string> values;
  if (!path.empty()) {
    try {
      const toml::table doc = toml::parse_file(path);
      values = flatten(doc, known);
      cfg.ai.providers = providers(doc, env);
    } catch (const toml::parse_error& e) {
      std::ostringstream os;
      os << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
         << e.description();
      throw config_error(os.str());
    }
  }
  for (const auto& b : known) {
    for (const auto& alias : b.aliases)
      if (const char* v = env(alias.c_str())) values[b.key] = v;
    if (const char* v = env(env_name(b.key).c_str())) values[b.key] = v;
  }
  for (const auto& b : known) {
    auto it = values.find(b.key);
    if (it != values.end()) b.set(it->second);
  }
  // Secret files win over inline values: they are how production passes secrets.
  if (!files["smtp.password"].empty())
    cfg.smtp.password = read_secret_file("smtp.password_file", files["smtp.password"], env);
  if (!files["smtp.oauth2_token"].empty())
    cfg.smtp.oauth2_token =
        read_secret_file("smtp.oauth2_token_file", files["smtp.oauth2_token"], env);
  if (!files["database.url"].empty())
    cfg.store.url = read_secret_file("database.url_file", files["database.url"], env);
  if (!files["admin.tokens"].empty()) cfg.admin.tokens = parse_tokens(files["admin.tokens"], env);
  if (!files["dkim.keys"].empty()) cfg.content.dkim_keys = parse_dkim_keys(files["dkim.keys"], env);
  cfg.ai.database_url = cfg.store.url;

  if (cfg.instance_id.empty()) cfg.instance_id = default_instance_id();
  cfg.store.owner = cfg.instance_id;
  // A live instance must never look dead: a few heartbeats may be late (a slow PostgreSQL).
  if (cfg.store.owner_dead_after.count() != 0 &&
      cfg.store.owner_dead_after < 3 * cfg.store.heartbeat_interval)
    throw config_error("delivery.owner_dead_after_ms: expected 0 or at least 3 x "
                       "delivery.heartbeat_ms (" +
                       std::to_string(3 * cfg.store.heartbeat_interval.count()) + ")");
  if (!cfg.unsubscribe.base_url.empty()) {
    try {
      unsubscribe::validate(cfg.unsubscribe);
    } catch (const std::invalid_argument& e) {
      throw config_error(e.what());
    }
  }
  if (cfg.kafka.brokers.empty()) throw config_error("kafka.brokers: must not be empty");
  if (cfg.store.url.empty())
    throw config_error("database.url: must be set (or DATABASE_URL, or database.url_file)");
  if (cfg.smtp.host.empty()) throw config_error("smtp.host: must not be empty");
  if (!cfg.smtp.user.empty() && cfg.smtp.password.empty() && cfg.smtp.oauth2_token.empty())
    throw config_error("smtp.password: smtp.user is set but no password (smtp.password, "
                       "SMTP_PASSWORD or smtp.password_file) nor smtp.oauth2_token");
  if (cfg.backoff.multiplier < 1.0) throw config_error("retry.multiplier: expected a number >= 1");
  cfg.routing.smtp = cfg.smtp; // [routing]: relay mode's relay, direct mode's per-host template
  return cfg;
}

namespace {

nlohmann::json describe_limits(const smtp::shaping::limits& l) {
  return {{"max_concurrent", l.max_concurrent},
          {"rate", l.rate},
          {"burst", l.burst},
          {"max_connections", l.max_connections},
          {"max_messages_per_connection", l.max_messages_per_connection}};
}

nlohmann::json describe_routing(const smtp::routing_config& r) {
  const char* tls[] = {"none", "opportunistic", "required", "implicit"};
  nlohmann::json policies = nlohmann::json::object();
  for (const auto& [domain, mode] : r.direct.tls_policies)
    policies[domain] = tls[static_cast<int>(mode)];
  return {{"mode", r.mode == smtp::route::mode::relay ? "relay" : "direct"},
          {"mx_port", r.direct.port},
          {"tls", tls[static_cast<int>(r.direct.tls)]},
          {"tls_policies", policies},
          {"nameservers", r.direct.dns.nameservers},
          {"dns_timeout_ms", r.direct.dns.timeout.count()},
          {"dns_tries", r.direct.dns.tries},
          {"dns_max_in_flight", r.direct.dns.max_in_flight},
          {"max_mx_hosts", r.direct.dns.max_mx_hosts},
          {"max_addresses", r.direct.max_addresses},
          {"client_idle_timeout_ms", r.direct.client_idle_timeout.count()}};
}

nlohmann::json describe_shaping(const smtp::shaping::config& s) {
  nlohmann::json out = describe_limits(s.destination_default);
  out["tenant_max_concurrent"] = s.tenant_default.max_concurrent;
  out["tenant_rate"] = s.tenant_default.rate;
  out["tenant_burst"] = s.tenant_default.burst;
  out["destinations"] = nlohmann::json::object();
  for (const auto& [name, l] : s.destinations)
    out["destinations"][name] = describe_limits(l);
  out["tenants"] = nlohmann::json::object();
  for (const auto& [name, l] : s.tenants)
    out["tenants"][name] = describe_limits(l);
  out["slow_down_factor"] = s.slow_down.factor;
  out["slow_down_min_rate"] = s.slow_down.min_rate;
  out["slow_down_unlimited_rate"] = s.slow_down.unlimited_rate;
  out["slow_down_cooldown_ms"] = s.slow_down.cooldown.count();
  out["slow_down_settle_ms"] = s.slow_down.settle.count();
  return out;
}

} // namespace

namespace {

nlohmann::json describe_ai(const ai::ai_config& a) {
  nlohmann::json providers = nlohmann::json::array();
  for (const auto& p : a.providers)
    providers.push_back({{"name", p.name},
                         {"base_url", p.base_url},
                         {"model", p.model},
                         {"api_key", p.api_key.empty() ? "" : "(set)"},
                         {"ca_file", p.ca_file},
                         {"verify_peer", p.verify_peer},
                         {"connect_timeout_ms", p.connect_timeout.count()},
                         {"timeout_ms", p.timeout.count()},
                         {"max_concurrency", p.max_concurrency},
                         {"max_retries", p.max_retries},
                         {"retry_initial_ms", p.retry_initial.count()},
                         {"retry_max_ms", p.retry_max.count()},
                         {"breaker_failures", p.breaker_failures},
                         {"breaker_cooldown_ms", p.breaker_cooldown.count()},
                         {"idle_timeout_ms", p.idle_timeout.count()},
                         {"temperature", p.temperature},
                         {"max_tokens", p.max_tokens}});
  return {{"deadline_ms", a.deadline.count()},
          {"cache_entries", a.cache_entries},
          {"cache_max_bytes", a.cache_max_bytes},
          {"cache_ttl_s", a.cache_ttl.count()},
          {"pg_cache", a.pg_cache},
          {"pg_timeout_ms", a.pg_timeout.count()},
          {"style_ttl_s", a.style_ttl.count()},
          {"max_subject_chars", a.max_subject_chars},
          {"max_text_chars", a.max_text_chars},
          {"max_html_chars", a.max_html_chars},
          {"log_prompts", a.log_prompts},
          {"providers", std::move(providers)}};
}

} // namespace

namespace {
// The keys as configured (the files named, never their content).
std::string dkim_text(const std::vector<content::dkim_key>& keys) {
  std::string out;
  for (const auto& k : keys)
    out += (out.empty() ? "" : ",") + k.tenant + ":" + k.key.domain + ":" + k.key.selector + ":" +
           std::string(dkim::to_string(k.key.algo)) + ":" + k.key.key_file;
  return out;
}
} // namespace

nlohmann::json describe(const daemon_config& c) {
  auto secret = [](const std::string& s) { return s.empty() ? "" : "(set)"; };
  const char* tls[] = {"none", "opportunistic", "required", "implicit"};
  return {
      {"daemon", {{"instance_id", c.instance_id}}},
      {"log", {{"level", c.log_level}}},
      {"kafka",
       {{"brokers", c.kafka.brokers},
        {"group_id", c.kafka.group_id},
        {"group_instance_id", c.kafka.group_instance_id},
        {"requests_topic", c.kafka.requests_topic},
        {"status_topic", c.kafka.status_topic},
        {"dlq_topic", c.kafka.dlq_topic},
        {"create_topics", c.kafka.create_topics},
        {"topic_partitions", c.kafka.topic_partitions},
        {"session_timeout_ms", c.kafka.session_timeout.count()},
        {"linger_ms", c.kafka.linger.count()},
        {"compression", c.kafka.compression},
        {"commit_interval_ms", c.kafka.commit_interval.count()},
        {"publish_accepted", c.kafka.publish_accepted}}},
      {"smtp",
       {{"host", c.smtp.host},
        {"port", c.smtp.port},
        {"helo_name", c.smtp.helo_name},
        {"tls", tls[static_cast<int>(c.smtp.tls)]},
        {"ca_file", c.smtp.ca_file},
        {"verify_peer", c.smtp.verify_peer},
        {"user", c.smtp.user},
        {"password", secret(c.smtp.password)},
        {"oauth2_token", secret(c.smtp.oauth2_token)},
        {"allow_plaintext_auth", c.smtp.allow_plaintext_auth},
        {"connect_timeout_ms", c.smtp.connect_timeout.count()},
        {"command_timeout_ms", c.smtp.command_timeout.count()},
        {"data_timeout_ms", c.smtp.data_timeout.count()},
        {"greeting_timeout_ms", c.smtp.greeting_timeout.count()},
        {"mail_timeout_ms", c.smtp.mail_timeout.count()},
        {"rcpt_timeout_ms", c.smtp.rcpt_timeout.count()},
        {"data_start_timeout_ms", c.smtp.data_start_timeout.count()},
        {"data_block_timeout_ms", c.smtp.data_block_timeout.count()},
        {"final_dot_timeout_ms", c.smtp.final_dot_timeout.count()},
        {"max_connections", c.smtp.max_connections},
        {"max_messages_per_connection", c.smtp.max_messages_per_connection},
        {"idle_timeout_ms", c.smtp.idle_timeout.count()}}},
      {"database",
       {{"url", secret(c.store.url)},
        {"batch_max", c.store.batch_max},
        {"retry_interval_ms", c.store.retry_interval.count()}}},
      {"limits",
       {{"max_request_bytes", c.limits.max_request_bytes},
        {"max_body_bytes", c.limits.max_body_bytes},
        {"max_recipients", c.limits.max_recipients},
        {"max_metadata_bytes", c.limits.max_metadata_bytes}}},
      {"retry",
       {{"max_attempts", c.backoff.max_attempts},
        {"initial_ms", c.backoff.initial.count()},
        {"multiplier", c.backoff.multiplier},
        {"max_delay_ms", c.backoff.max_delay.count()},
        {"jitter", c.backoff.jitter},
        {"in_process_max_ms", c.delivery.in_process_max.count()},
        {"tiers", tiers_text(c.delivery.retry_tiers)}}},
      {"admin",
       {{"enabled", c.admin.enabled},
        {"address", c.admin.address},
        {"port", c.admin.port},
        {"metrics_require_token", c.admin.metrics_require_token},
        {"tokens", c.admin.tokens.size()}}},
      {"delivery",
       {{"max_in_flight", c.delivery.max_in_flight},
        {"message_id_domain", c.delivery.message_id_domain},
        {"drain_timeout_ms", c.delivery.drain_timeout.count()},
        {"lease_ms", std::chrono::milliseconds(c.store.lease).count()},
        {"probe_smtp_at_start", c.delivery.probe_smtp_at_start},
        {"max_parked", c.delivery.max_parked},
        {"internal_error_attempts", c.delivery.internal_error_attempts},
        {"heartbeat_ms", c.store.heartbeat_interval.count()},
        {"owner_dead_after_ms", c.store.owner_dead_after.count()},
        {"lifetime_ms", c.delivery.lifetime.count()},
        {"guarantee", c.delivery.at_most_once ? "at_most_once" : "at_least_once"}}},
      {"content",
       {{"threads", c.content.threads},
        {"raw_html_tenants", nlohmann::json(c.content.raw_html_tenants)}}},
      {"dkim", {{"keys", dkim_text(c.content.dkim_keys)}}},
      {"unsubscribe",
       {{"base_url", c.unsubscribe.base_url},
        {"mailto", c.unsubscribe.mailto},
        {"path_prefix", c.unsubscribe.path_prefix},
        {"secret_files", c.unsubscribe.secret_files.size()},
        {"store_timeout_ms", c.unsubscribe.store_timeout.count()},
        {"allow_http", c.unsubscribe.allow_http}}},
      {"ai", describe_ai(c.ai)},
      {"routing", describe_routing(c.routing)},
      {"shaping", describe_shaping(c.routing.shaping)},
  };
}

} // namespace iaposte::config
