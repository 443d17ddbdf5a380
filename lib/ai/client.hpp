// The AI client facade: personalize or generate one message's content through an ordered
// chain of OpenAI-compatible providers, with caches, breakers and a template fallback.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "ai/style.hpp"

namespace iaposte::ai {

struct provider_config {
  std::string name;        // unique, in logs, metrics and results ("openai", "local-vllm")
  std::string base_url;    // "https://api.openai.com/v1", "http://127.0.0.1:8000/v1"
  std::string model;       // "gpt-4o-mini"
  std::string api_key;     // resolved by lib/config from api_key_file / api_key_env; never logged
  std::string ca_file;     // HTTPS: empty = system store
  bool verify_peer = true; // HTTPS: certificate chain and host name
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds timeout{15000}; // one HTTP attempt: connect + write + read
  std::size_t max_concurrency = 8;          // calls in flight to this provider
  int max_retries = 2;                      // on 429, 5xx and connection errors
  std::chrono::milliseconds retry_initial{200};
  std::chrono::milliseconds retry_max{5000}; // longest wait, Retry-After included
  int breaker_failures = 5;                  // consecutive failed calls that open the breaker
  std::chrono::milliseconds breaker_cooldown{30000}; // open → half-open
  std::chrono::milliseconds idle_timeout{30000};     // keep-alive connections older are closed
  double temperature = 0.4;
  int max_tokens = 1500;
};

struct ai_config {
  std::vector<provider_config> providers;    // tried in order; the template ends the chain
  std::chrono::milliseconds deadline{30000}; // whole call, every provider and retry included
  std::size_t cache_entries = 10000;         // in-process LRU; 0 disables it
  std::size_t cache_max_bytes = 64 << 20;    // and its size (keys and answers)
  std::chrono::seconds cache_ttl{86400};     // LRU and ai_cache rows
  bool pg_cache = true;                      // ai_cache + style_profiles (needs database_url)
  std::string database_url;                  // set by the caller (database.url); never logged
  std::chrono::milliseconds pg_timeout{500}; // longest wait for a cache or profile look-up
  std::chrono::seconds style_ttl{60};        // profiles are re-read from PostgreSQL after this
  std::size_t max_subject_chars = 200;       // bytes, in fact (UTF-8)
  std::size_t max_text_chars = 20000;
  std::size_t max_html_chars = 100000;
  bool log_prompts = false; // debug only: prompt and answer contents in the log lines
};

enum class mode { personalize, generate };

struct request {
  mode kind = mode::personalize;
  std::string tenant, sender, request_id; // sender: the From address (style profile key)
  // The template-rendered content: the input of personalize, and the result when every
  // provider fails (for generate it may be empty: the worker decides what to do with that).
  std::string subject, text, html;
  std::string instructions;                   // generate: what to write
  std::map<std::string, std::string> contact; // first_name, company, ...
  // Extra links the output may contain. personalize: the input's links are always allowed;
  // generate: when non-empty, every link in the output must be one of these (or appear
  // in a contact field).
  std::vector<std::string> allowed_links;
  std::optional<style_profile> style; // none: looked up in PostgreSQL (tenant, sender)
};

struct sentiment {
  std::string label = "neutral";  // positive | neutral | negative
  double score = 0;               // [-1, 1]
  std::string source = "lexicon"; // "model" or "lexicon"
};

struct result {
  std::string subject, text, html;
  std::string provider;                        // the provider's name, or "template"
  std::string model;                           // "" for the template
  bool cached = false;                         // came from the LRU or ai_cache: no model call
  bool fallback = false;                       // not the first provider's fresh or cached answer
  std::uint64_t tokens_in = 0, tokens_out = 0; // of this call (0 when cached or template)
  ai::sentiment sentiment;
  std::chrono::milliseconds latency{0};
  std::string error; // why the chain fell back, last failure first ("" when none)
};

enum class breaker_state : int { closed = 0, open = 1, half_open = 2 };

// Counters, read by the metrics endpoint; every field is updated atomically.
struct provider_metrics {
  std::string name;
  std::atomic<std::uint64_t> calls{0};    // HTTP attempts
  std::atomic<std::uint64_t> failures{0}; // failed provider calls (after retries)
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> invalid_outputs{0};
  std::atomic<std::uint64_t> rejected_by_breaker{0};
  std::atomic<std::uint64_t> tokens_in{0}, tokens_out{0};
  std::atomic<std::uint64_t> latency_ms_sum{0}, latency_count{0};
  // Latency histogram of successful attempts: ≤ bucket_bounds_ms[i]; the last one is +Inf.
  static constexpr std::array<std::uint64_t, 8> bucket_bounds_ms{50,   100,  250,   500,
                                                                 1000, 2500, 10000, UINT64_MAX};
  std::array<std::atomic<std::uint64_t>, 8> latency_buckets{};
  std::atomic<int> breaker{0}; // breaker_state
  explicit provider_metrics(std::string n) : name(std::move(n)) {}
};

struct metrics {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> cache_hits_memory{0}, cache_hits_pg{0}, cache_misses{0};
  std::atomic<std::uint64_t> fallbacks{0};          // results not from the first provider
  std::atomic<std::uint64_t> template_fallbacks{0}; // results from the template
  std::deque<provider_metrics> providers;           // in chain order; fixed after construction
};

// Threading: the client and its coroutines run on the executor given to the constructor,
// which must not run handlers concurrently (an io_context run by one thread, or a strand).
// PostgreSQL work (ai_cache, style_profiles) runs on a thread of the client's own.
// Destroy the client only after every run() has completed.
class client {
public:
  client(boost::asio::any_io_executor ex, ai_config cfg);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Never throws for provider, network or PostgreSQL failures: the worst case is the
  // template result (provider "template", fallback true). The request must outlive the call.
  boost::asio::awaitable<result> run(const request& req);

  const ai::metrics& stats() const;
  breaker_state breaker(const std::string& provider) const;
  // Idle keep-alive connections; for tests and metrics.
  std::size_t idle_connections(const std::string& provider) const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

const char* to_string(mode m);
const char* to_string(breaker_state s);

} // namespace iaposte::ai
