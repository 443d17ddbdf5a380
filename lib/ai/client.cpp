// One AI call, top to bottom: style profile, then for each provider in order: cache (memory,
// PostgreSQL), breaker, concurrency slot, HTTP attempts with retries, validation; finally
// the template. Every outcome is decided where the answer is read.
#include "ai/client.hpp"

#include <algorithm>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "ai/breaker.hpp"
#include "ai/cache.hpp"
#include "ai/http.hpp"
#include "ai/pg.hpp"
#include "ai/prompt.hpp"
#include "ai/tone.hpp"
#include "ai/validate.hpp"
#include "ai/wait.hpp"
#include "log/log.hpp"

namespace iaposte::ai {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;
using json = nlohmann::json;

const char* to_string(mode m) {
  return m == mode::personalize ? "personalize" : "generate";
}

const char* to_string(breaker_state s) {
  switch (s) {
  case breaker_state::closed:
    return "closed";
  case breaker_state::open:
    return "open";
  case breaker_state::half_open:
    return "half_open";
  }
  return "?";
}

namespace {

long long ms_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// What one provider produced.
struct answer {
  std::optional<detail::content> content;
  std::uint64_t tokens_in = 0, tokens_out = 0;
  std::string error;
  bool provider_failed = true; // counts for the breaker (false: we ran out of slots or time)
};

std::string cache_value(const detail::content& c, const std::string& model) {
  json v = {{"subject", c.subject}, {"text", c.text}, {"html", c.html}, {"model", model}};
  if (c.sentiment) v["sentiment"] = {{"label", c.sentiment->label}, {"score", c.sentiment->score}};
  return dump(v);
}

std::optional<detail::content> from_cache_value(const std::string& s) {
  auto j = json::parse(s, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    detail::content c;
    c.subject = j.at("subject").get<std::string>();
    c.text = j.at("text").get<std::string>();
    c.html = j.value("html", "");
    if (auto it = j.find("sentiment"); it != j.end() && it->is_object())
      c.sentiment =
          sentiment{it->at("label").get<std::string>(), it->at("score").get<double>(), "model"};
    return c;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

} // namespace

struct provider_state {
  provider_config cfg;
  detail::http_pool pool;
  detail::semaphore slots;
  detail::breaker brk;
  provider_metrics& m;

  provider_state(asio::any_io_executor ex, provider_config c, provider_metrics& pm)
      : cfg(std::move(c)), pool(ex, cfg), slots(ex, std::max<std::size_t>(1, cfg.max_concurrency)),
        brk(cfg.breaker_failures, cfg.breaker_cooldown), m(pm) {}

  void publish_breaker() { m.breaker = static_cast<int>(brk.state()); }
};

struct client::impl {
  asio::any_io_executor ex;
  ai_config cfg;
  ai::metrics stats;
  std::deque<provider_state> providers; // stable addresses: pools keep a reference to cfg
  detail::lru_cache lru;
  std::unique_ptr<detail::pg_worker> pg;
  std::map<std::pair<std::string, std::string>,
           std::pair<std::optional<style_profile>, steady::time_point>>
      styles; // (tenant, sender) → profile, read until
  std::mt19937 rng{std::random_device{}()};

  impl(asio::any_io_executor e, ai_config c)
      : ex(std::move(e)), cfg(std::move(c)), lru(cfg.cache_entries, cfg.cache_max_bytes) {
    for (auto& p : cfg.providers) {
      auto& pm = stats.providers.emplace_back(p.name);
      providers.emplace_back(ex, p, pm);
    }
    if (cfg.pg_cache && !cfg.database_url.empty())
      pg = std::make_unique<detail::pg_worker>(cfg.database_url);
  }

  detail::limits limits() const {
    return {cfg.max_subject_chars, cfg.max_text_chars, cfg.max_html_chars};
  }

  asio::awaitable<std::optional<style_profile>> style_for(const request& req,
                                                          steady::time_point deadline) {
    if (req.style) co_return req.style;
    if (!pg) co_return std::nullopt;
    const auto k = std::make_pair(req.tenant, req.sender);
    const auto now = steady::now();
    if (auto it = styles.find(k); it != styles.end() && it->second.second > now)
      co_return it->second.first;
    auto s = std::make_shared<detail::slot<std::optional<style_profile>>>(ex);
    pg->style_get(req.tenant, req.sender,
                  [s](std::optional<style_profile> p) { s->deliver(std::move(p)); });
    auto got = co_await s->wait(std::min(deadline, now + cfg.pg_timeout));
    if (!got) co_return std::nullopt; // PG slow: no profile this time, ask again next time
    styles[k] = {*got, steady::now() + cfg.style_ttl};
    co_return *got;
  }

  // Memory first, then ai_cache (a hit there is kept in memory too).
  asio::awaitable<std::optional<detail::content>> cached(const std::string& key,
                                                         steady::time_point deadline) {
    const auto now = steady::now();
    if (auto v = lru.get(key, now)) {
      if (auto c = from_cache_value(*v)) {
        ++stats.cache_hits_memory;
        co_return c;
      }
    }
    if (pg) {
      auto s = std::make_shared<detail::slot<std::optional<std::string>>>(ex);
      pg->cache_get(key, [s](std::optional<std::string> v) { s->deliver(std::move(v)); });
      auto got = co_await s->wait(std::min(deadline, now + cfg.pg_timeout));
      if (got && *got) {
        if (auto c = from_cache_value(**got)) {
          ++stats.cache_hits_pg;
          lru.put(key, **got, steady::now() + cfg.cache_ttl);
          co_return c;
        }
      }
    }
    ++stats.cache_misses;
    co_return std::nullopt;
  }

  void remember(const std::string& key, const std::string& value) {
    lru.put(key, value, steady::now() + cfg.cache_ttl);
    if (pg) pg->cache_put(key, value, cfg.cache_ttl);
  }

  std::chrono::milliseconds backoff(const provider_config& p, int attempt) {
    auto d = p.retry_initial * (1LL << std::min(attempt, 20));
    d = std::min<std::chrono::milliseconds>(d, p.retry_max);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    return std::chrono::milliseconds{
        static_cast<long long>(static_cast<double>(d.count()) * jitter(rng))};
  }

  void log_attempt(const provider_state& p, const request& req, int attempt,
                   const detail::http_response& r, long long latency_ms, const std::string& outcome,
                   const std::string& error, std::uint64_t tin, std::uint64_t tout) {
    json f = {{"request_id", req.request_id},
              {"tenant", req.tenant},
              {"mode", to_string(req.kind)},
              {"provider", p.cfg.name},
              {"model", p.cfg.model},
              {"attempt", attempt},
              {"http_status", r.status},
              {"latency_ms", latency_ms},
              {"outcome", outcome},
              {"tokens_in", tin},
              {"tokens_out", tout}};
    if (!error.empty()) f["error"] = error.substr(0, 300);
    if (cfg.log_prompts) f["response_body"] = r.body.substr(0, 20000);
    log::event(outcome == "ok" ? spdlog::level::info : spdlog::level::warn, "ai.call",
               std::move(f));
  }

  // One provider: a concurrency slot, then attempts with retries on 429, 5xx and broken
  // connections (Retry-After honoured), until a valid answer or a reason to move on.
  asio::awaitable<answer> call(provider_state& p, const request& req, const std::string& body,
                               const std::optional<std::vector<std::string>>& allowed,
                               steady::time_point deadline) {
    answer out;
    if (!co_await p.slots.acquire(std::min(deadline, steady::now() + p.cfg.timeout))) {
      out.error = "no free connection slot in time";
      out.provider_failed = false;
      co_return out;
    }
    detail::permit held{&p.slots};
    const auto lim = limits();
    for (int attempt = 0;; ++attempt) {
      const auto t0 = steady::now();
      if (t0 >= deadline) {
        out.error = "deadline passed";
        out.provider_failed = attempt > 0; // never called: not this provider's failure
        co_return out;
      }
      ++p.m.calls;
      auto r =
          co_await p.pool.post("/chat/completions", body, std::min(deadline, t0 + p.cfg.timeout));
      const auto latency = ms_between(t0, steady::now());
      p.m.latency_ms_sum += static_cast<std::uint64_t>(latency);
      ++p.m.latency_count;
      for (std::size_t b = 0; b < p.m.latency_buckets.size(); ++b)
        if (static_cast<std::uint64_t>(latency) <= provider_metrics::bucket_bounds_ms[b]) {
          ++p.m.latency_buckets[b];
          break;
        }

      if (r.status == 200) {
        auto comp = detail::parse_completion(r.body);
        p.m.tokens_in += comp.tokens_in;
        p.m.tokens_out += comp.tokens_out;
        out.tokens_in = comp.tokens_in;
        out.tokens_out = comp.tokens_out;
        if (!comp.content) {
          ++p.m.invalid_outputs;
          out.error = comp.error;
          log_attempt(p, req, attempt, r, latency, "invalid", out.error, comp.tokens_in,
                      comp.tokens_out);
          co_return out;
        }
        auto checked = detail::check_output(*comp.content, lim, allowed);
        if (!checked.value) {
          ++p.m.invalid_outputs;
          out.error = "invalid output: " + checked.error;
          log_attempt(p, req, attempt, r, latency, "invalid", out.error, comp.tokens_in,
                      comp.tokens_out);
          co_return out;
        }
        log_attempt(p, req, attempt, r, latency, "ok", "", comp.tokens_in, comp.tokens_out);
        out.content = std::move(checked.value);
        out.provider_failed = false;
        co_return out;
      }

      out.error = r.status ? "HTTP " + std::to_string(r.status) : r.error;
      // A timeout already used the attempt's whole budget: the next provider gets the rest.
      const bool retryable =
          r.status == 429 || r.status >= 500 || (r.status == 0 && !r.timed_out && r.transient);
      log_attempt(p, req, attempt, r, latency, retryable ? "retryable" : "failed", out.error, 0, 0);
      if (!retryable || attempt >= p.cfg.max_retries) co_return out;
      const auto wait = r.retry_after ? *r.retry_after : backoff(p.cfg, attempt);
      if (wait > p.cfg.retry_max || steady::now() + wait >= deadline) {
        out.error += " (retry in " + std::to_string(wait.count()) + " ms: too late)";
        co_return out;
      }
      ++p.m.retries;
      asio::steady_timer t(ex, wait);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  void finish(result& res, const request& req, steady::time_point start, const json* msgs) {
    if (res.sentiment.source != "model") {
      res.sentiment = analyse_tone(res.subject + "\n" + res.text);
    }
    res.latency = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
    if (res.fallback) ++stats.fallbacks;
    if (res.provider == "template") ++stats.template_fallbacks;
    json f = {{"request_id", req.request_id},
              {"tenant", req.tenant},
              {"mode", to_string(req.kind)},
              {"provider", res.provider},
              {"model", res.model},
              {"cached", res.cached},
              {"fallback", res.fallback},
              {"latency_ms", res.latency.count()},
              {"tokens_in", res.tokens_in},
              {"tokens_out", res.tokens_out},
              {"sentiment", res.sentiment.label},
              {"sentiment_score", res.sentiment.score},
              {"sentiment_source", res.sentiment.source}};
    if (!res.error.empty()) f["error"] = res.error.substr(0, 500);
    if (cfg.log_prompts) {
      if (msgs) f["prompt"] = *msgs;
      f["subject"] = res.subject;
      f["text"] = res.text;
    }
    log::event(res.fallback ? spdlog::level::warn : spdlog::level::info, "ai.result", std::move(f));
  }

  asio::awaitable<result> run(const request& req) {
    const auto start = steady::now();
    const auto deadline = start + cfg.deadline;
    ++stats.requests;
    const auto style = co_await style_for(req, deadline);
    const json msgs = detail::messages(req, style);
    const auto allowed = detail::allowed_links(req);
    std::string errors;
    for (std::size_t i = 0; i < providers.size(); ++i) {
      auto& p = providers[i];
      const json body_json = detail::request_body(p.cfg, msgs);
      const std::string body = dump(body_json);
      const std::string key = detail::cache_key(p.cfg, body_json);
      result res;
      res.provider = p.cfg.name;
      res.model = p.cfg.model;
      res.fallback = i > 0;
      res.error = errors;
      if (auto hit = co_await cached(key, deadline)) {
        res.subject = std::move(hit->subject);
        res.text = std::move(hit->text);
        res.html = std::move(hit->html);
        if (hit->sentiment) res.sentiment = *hit->sentiment;
        res.cached = true;
        finish(res, req, start, &msgs);
        co_return res;
      }
      if (!p.brk.allow(steady::now())) {
        ++p.m.rejected_by_breaker;
        p.publish_breaker();
        errors += (errors.empty() ? "" : "; ") + p.cfg.name + ": circuit open";
        continue;
      }
      p.publish_breaker();
      auto a = co_await call(p, req, body, allowed, deadline);
      if (a.content) {
        p.brk.success();
        p.publish_breaker();
        remember(key, cache_value(*a.content, p.cfg.model));
        res.subject = std::move(a.content->subject);
        res.text = std::move(a.content->text);
        res.html = std::move(a.content->html);
        if (a.content->sentiment) res.sentiment = *a.content->sentiment;
        res.tokens_in = a.tokens_in;
        res.tokens_out = a.tokens_out;
        finish(res, req, start, &msgs);
        co_return res;
      }
      if (a.provider_failed) {
        ++p.m.failures;
        p.brk.failure(steady::now());
      } else {
        p.brk.abandon();
      }
      p.publish_breaker();
      errors += (errors.empty() ? "" : "; ") + p.cfg.name + ": " + a.error;
    }
    result res;
    res.subject = req.subject;
    res.text = req.text;
    res.html = req.html;
    res.provider = "template";
    res.fallback = true;
    res.error = providers.empty() ? "no provider configured" : errors;
    finish(res, req, start, &msgs);
    co_return res;
  }
};

client::client(asio::any_io_executor ex, ai_config cfg)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(cfg))) {}

client::~client() = default;

asio::awaitable<result> client::run(const request& req) {
  return impl_->run(req);
}

const ai::metrics& client::stats() const {
  return impl_->stats;
}

breaker_state client::breaker(const std::string& provider) const {
  for (const auto& p : impl_->stats.providers)
    if (p.name == provider) return static_cast<breaker_state>(p.breaker.load());
  return breaker_state::closed;
}

std::size_t client::idle_connections(const std::string& provider) const {
  for (const auto& p : impl_->providers)
    if (p.cfg.name == provider) return p.pool.idle();
  return 0;
}

} // namespace iaposte::ai
