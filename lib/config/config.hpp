// The daemon's configuration: one TOML file, every key overridable from the environment,
// secrets from files (or systemd credentials); each component gets its own struct.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin/server.hpp"
#include "ai/client.hpp"
#include "content/stage.hpp"
#include "core/backoff.hpp"
#include "core/request.hpp"
#include "kafka/protocol.hpp"
#include "smtp/client.hpp"
#include "smtp/dispatch.hpp"
#include "store/store.hpp"
#include "unsubscribe/unsubscribe.hpp"

namespace iaposte::config {

struct kafka_config {
  std::string brokers = "127.0.0.1:9092";
  std::string group_id = "iaposted";
  std::string group_instance_id; // static membership when set (fast restarts)
  std::string requests_topic = "iaposte.requests";
  std::string status_topic = "iaposte.status";
  std::string dlq_topic = "iaposte.dlq";
  bool create_topics = true;
  int topic_partitions = 4;
  std::chrono::milliseconds session_timeout{10000};
  std::chrono::milliseconds linger{5};
  // The producer's compression.type (status events, retry and DLQ copies): none, gzip,
  // snappy, lz4 or zstd (docs/BENCHMARKS.md, "Kafka compression").
  std::string compression = "lz4";
  std::chrono::milliseconds commit_interval{1000};
  // Publish the `accepted` status event of each request claimed (docs/BENCHMARKS.md,
  // "Status events per request"). Its history step is recorded either way.
  bool publish_accepted = true;
};

// A fixed-delay retry topic (retry.tiers: "topic:delay_ms,...").
using retry_tier = kafka::retry_tier;

struct delivery_config {
  std::size_t max_in_flight = 1000;
  // Waits up to this long are in-process; longer ones go through the retry topics.
  std::chrono::milliseconds in_process_max{60000};
  std::vector<retry_tier> retry_tiers = kafka::default_retry_tiers();
  // Bound of all retries, from the request's first production (or its send_at).
  std::chrono::milliseconds lifetime{std::chrono::hours(24 * 5)};
  // "at_most_once": each attempt recorded before its final dot; a crash in that window
  // reports the request sent (unconfirmed) instead of sending it again. "at_least_once":
  // no record before the dot; such a request is sent again (the receiver may get two).
  bool at_most_once = true;
  // ai.hold_negative: tenants ("acme,beta", or "*") whose AI-written messages with a
  // negative tone are held back (rejected with the reason); the others are only marked.
  std::string hold_negative;
  // ai.max_waiting: AI requests that give their place under max_in_flight back while the
  // model writes (0: none do).
  std::size_t ai_max_waiting = 1000;
  // Requests waiting on another instance's lease or on a retry after an internal error that
  // give their place under max_in_flight back meanwhile (0: none do).
  std::size_t max_parked = 1000;
  // Failures (exceptions: bugs) a request's handling may have before it ends `failed`.
  int internal_error_attempts = 3;
  std::string message_id_domain; // empty: the sender's domain
  std::chrono::milliseconds drain_timeout{30000};
  // Probe the relay before reading requests. A relay down or answering garbage then is
  // logged and reported on /readyz; the daemon starts anyway and defers.
  bool probe_smtp_at_start = true;
};

// [content] and [dkim]: the content stage (lib/content).
struct content_config {
  std::vector<content::dkim_key> dkim_keys; // dkim.keys
  std::set<std::string> raw_html_tenants;   // content.raw_html_tenants ("*": all)
  std::size_t threads = 2;                  // content.threads: rendering and signing
};

struct daemon_config {
  std::string instance_id; // empty: the host name (one instance per host); owner of claims
  std::string log_level = "info";
  kafka_config kafka;
  smtp::relay_config smtp;
  store::store_config store;
  core::limits limits;
  core::backoff_config backoff;
  delivery_config delivery;
  // Admin HTTP (/healthz, /readyz, /metrics); admin.tokens = "name:role:file,..." (role read
  // or admin; a relative file is looked up in $CREDENTIALS_DIRECTORY).
  admin::server_config admin;
  // [routing] and [shaping]: the smtp::dispatcher's configuration. Its relay_config (`smtp`)
  // is a copy of [smtp], made at load: relay mode's relay, direct mode's per-host template.
  smtp::routing_config routing;
  ai::ai_config ai; // [ai] and [[ai.providers]]; ai.database_url is database.url
  content_config content;
  // [unsubscribe]: one-click links for marketing mail (lib/unsubscribe); off while
  // unsubscribe.base_url is empty.
  unsubscribe::config unsubscribe;
};

struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using env_lookup = std::function<const char*(const char*)>;

// Reads `path` (empty: defaults only), then the environment: IAPOSTE_<SECTION>_<KEY>
// for every key (e.g. IAPOSTE_SMTP_PORT) and the usual names SMTP_SERVER, SMTP_PORT,
// SMTP_USER, SMTP_PASSWORD, SMTP_TLS, KAFKA_BROKERS, DATABASE_URL, LOG_LEVEL. Keys ending
// in `_file` (smtp.password_file, database.url_file) name a file holding the secret;
// a relative name is looked up in $CREDENTIALS_DIRECTORY (systemd LoadCredential=).
// Throws config_error naming the key and the problem; never quotes a secret.
daemon_config load(const std::string& path, const env_lookup& env);

// The effective configuration with secrets replaced by "(set)", for --check-config.
nlohmann::json describe(const daemon_config& cfg);

} // namespace iaposte::config
