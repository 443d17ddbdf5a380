// ai_cache and style_profiles: the worker thread and its statements, and the CLI's
// synchronous style get/set.
#include "ai/pg.hpp"

#include <stdexcept>

#include <pqxx/pqxx>

#include "log/log.hpp"
#include "store/conninfo.hpp"

namespace iaposte::ai {
namespace detail {
namespace {

// Bounded: the cache is an optimisation, never a reason to hold memory or wait.
constexpr std::size_t queue_max = 10000;
constexpr auto reconnect_every = std::chrono::seconds{5};
// Expired rows are deleted now and then, from the worker.
constexpr std::size_t purge_every_puts = 1000;

constexpr const char* select_style =
    "SELECT tenant, sender, tone, formality, language, signature FROM style_profiles "
    "WHERE tenant = $1 AND sender IN ($2, '') ORDER BY sender DESC LIMIT 1";

style_profile profile_of(const pqxx::row& r) {
  return {r[0].c_str(), r[1].c_str(), r[2].c_str(), r[3].c_str(), r[4].c_str(), r[5].c_str()};
}

} // namespace

pg_worker::pg_worker(std::string url) : url_(std::move(url)), thread_([this] { run(); }) {}

// At a clean stop, the jobs already queued (an answer to store in ai_cache) still run this
// long; the rest get no connection.
constexpr auto drain_for = std::chrono::seconds{2};

pg_worker::~pg_worker() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    drain_until_ = std::chrono::steady_clock::now() + drain_for;
  }
  cv_.notify_all();
  thread_.join();
  for (auto& j : queue_)
    j(nullptr);
}

void pg_worker::submit(job j) {
  {
    std::unique_lock lk(mu_);
    if (!stopping_ && queue_.size() < queue_max) {
      queue_.push_back(std::move(j));
      lk.unlock();
      cv_.notify_one();
      return;
    }
  }
  j(nullptr);
}

pqxx::connection* pg_worker::connection() {
  if (conn_ && conn_->is_open()) return conn_.get();
  conn_.reset();
  const auto now = std::chrono::steady_clock::now();
  if (now < retry_at_) return nullptr;
  try {
    conn_ = store::detail::open_connection(url_);
    return conn_.get();
  } catch (const std::exception& e) {
    retry_at_ = now + reconnect_every;
    log::warn("ai.pg_unavailable",
              {{"error", store::detail::redact(e.what(), url_)}, {"retry_ms", 5000}});
    return nullptr;
  }
}

void pg_worker::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_ && (queue_.empty() || std::chrono::steady_clock::now() >= drain_until_)) return;
    job j = std::move(queue_.front());
    queue_.pop_front();
    lk.unlock();
    pqxx::connection* c = connection();
    try {
      j(c);
    } catch (const std::exception& e) {
      // A broken connection is reopened by the next job (is_open() says so).
      log::warn("ai.pg_error", {{"error", store::detail::redact(e.what(), url_)}});
    }
    lk.lock();
  }
}

void pg_worker::cache_get(std::string key, std::function<void(std::optional<std::string>)> done) {
  submit([key = std::move(key), done = std::move(done), this](pqxx::connection* c) {
    std::optional<std::string> v;
    if (c) try {
        pqxx::nontransaction tx(*c);
        auto r = tx.exec_params("SELECT value::text FROM ai_cache WHERE key = $1 AND "
                                "expires_at > now()",
                                key);
        if (!r.empty()) v = r[0][0].c_str();
      } catch (const std::exception& e) {
        log::warn("ai.pg_error",
                  {{"op", "cache_get"}, {"error", store::detail::redact(e.what(), url_)}});
      }
    done(std::move(v));
  });
}

void pg_worker::cache_put(std::string key, std::string value_json, std::chrono::seconds ttl) {
  submit([key = std::move(key), value = std::move(value_json), ttl, this](pqxx::connection* c) {
    if (!c) return;
    pqxx::work tx(*c);
    tx.exec_params("INSERT INTO ai_cache (key, value, expires_at) VALUES ($1, $2::jsonb, "
                   "now() + make_interval(secs => $3)) ON CONFLICT (key) DO UPDATE SET "
                   "value = EXCLUDED.value, created_at = now(), expires_at = EXCLUDED.expires_at",
                   key, value, static_cast<double>(ttl.count()));
    if (++puts_ % purge_every_puts == 0)
      tx.exec("DELETE FROM ai_cache WHERE expires_at < now() - interval '1 hour'");
    tx.commit();
  });
}

void pg_worker::style_get(std::string tenant, std::string sender,
                          std::function<void(std::optional<style_profile>)> done) {
  submit([tenant = std::move(tenant), sender = std::move(sender), done = std::move(done),
          this](pqxx::connection* c) {
    std::optional<style_profile> p;
    if (c) try {
        pqxx::nontransaction tx(*c);
        auto r = tx.exec_params(select_style, tenant, sender);
        if (!r.empty()) p = profile_of(r[0]);
      } catch (const std::exception& e) {
        log::warn("ai.pg_error",
                  {{"op", "style_get"}, {"error", store::detail::redact(e.what(), url_)}});
      }
    done(std::move(p));
  });
}

} // namespace detail

std::optional<style_profile> get_style(const std::string& database_url, const std::string& tenant,
                                       const std::string& sender) {
  try {
    auto c = store::detail::open_connection(database_url);
    pqxx::nontransaction tx(*c);
    auto r = tx.exec_params(detail::select_style, tenant, sender);
    if (r.empty()) return std::nullopt;
    return detail::profile_of(r[0]);
  } catch (const std::exception& e) {
    throw std::runtime_error(store::detail::describe_error(e, database_url));
  }
}

void set_style(const std::string& database_url, const style_profile& p) {
  if (p.tenant.empty()) throw std::invalid_argument("style: tenant must not be empty");
  if (!p.formality.empty() && p.formality != "tu" && p.formality != "vous")
    throw std::invalid_argument("style: formality must be tu or vous");
  try {
    auto c = store::detail::open_connection(database_url);
    pqxx::work tx(*c);
    tx.exec_params(
        "INSERT INTO style_profiles (tenant, sender, tone, formality, language, signature) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, sender) DO UPDATE SET "
        "tone = EXCLUDED.tone, formality = EXCLUDED.formality, language = EXCLUDED.language, "
        "signature = EXCLUDED.signature, updated_at = now()",
        p.tenant, p.sender, p.tone, p.formality, p.language, p.signature);
    tx.commit();
  } catch (const std::exception& e) {
    throw std::runtime_error(store::detail::describe_error(e, database_url));
  }
}

} // namespace iaposte::ai
