// The heartbeat thread: upserts this instance's row and reads which owners stopped beating.
#include "store/liveness.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "store/conninfo.hpp"
#include "store/log_event.hpp"

namespace iaposte::store::detail {
namespace {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

} // namespace

liveness::liveness(liveness_config cfg) : cfg_(std::move(cfg)) {}

liveness::~liveness() {
  stop(false);
}

void liveness::start() {
  if (thread_.joinable() || cfg_.dead_after.count() == 0) return;
  // No row yet: nobody can take this instance's claims over before its first heartbeat.
  last_ok_ = std::chrono::steady_clock::now().time_since_epoch().count();
  thread_ = std::thread([this] { run(); });
}

void liveness::stop(bool clean) {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (!thread_.joinable()) return;
  thread_.join();
  if (!clean) return;
  try {
    if (!conn_) conn_ = open_connection(cfg_.url);
    pqxx::nontransaction n(*conn_);
    n.exec_params("UPDATE instances SET heartbeat_at = '-infinity' WHERE id = $1", cfg_.owner);
  } catch (const std::exception& e) {
    // The row then ages out like a crashed instance's (dead_after later).
    log_event(spdlog::level::warn, "store.heartbeat_final_failed",
              {{"error", describe_error(e, cfg_.url)}});
  }
  conn_.reset();
}

bool liveness::beat() {
  try {
    if (!conn_) conn_ = open_connection(cfg_.url);
    pqxx::nontransaction n(*conn_);
    n.exec_params("INSERT INTO instances (id, host, pid) VALUES ($1, $2, $3) "
                  "ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), host = excluded.host, "
                  "pid = excluded.pid",
                  cfg_.owner, host_name(), static_cast<int>(getpid()));
    const pqxx::result r =
        n.exec_params("SELECT id FROM instances "
                      " WHERE heartbeat_at < now() - make_interval(secs => $2) AND id <> $1",
                      cfg_.owner, static_cast<double>(cfg_.dead_after.count()) / 1000.0);
    nlohmann::json dead = nlohmann::json::array();
    for (const auto& row : r)
      dead.push_back(row[0].c_str());
    last_ok_ = std::chrono::steady_clock::now().time_since_epoch().count();
    if (failing_) log_event(spdlog::level::info, "store.heartbeat_resumed");
    failing_ = false;
    std::lock_guard lk(mu_);
    dead_ = dead.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    ++beats_;
    return true;
  } catch (const std::exception& e) {
    conn_.reset();
    // Once per outage: the store's own lines say that PostgreSQL is away.
    if (!failing_)
      log_event(spdlog::level::warn, "store.heartbeat_failed",
                {{"error", describe_error(e, cfg_.url)}});
    failing_ = true;
    return false;
  }
}

void liveness::run() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    lk.unlock();
    beat();
    lk.lock();
    cv_.wait_for(lk, cfg_.interval, [this] { return stopping_; });
  }
}

std::string liveness::dead_owners() const {
  std::lock_guard lk(mu_);
  return dead_;
}

bool liveness::fresh() const {
  if (cfg_.dead_after.count() == 0 || !thread_.joinable()) return true;
  const auto last =
      std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_ok_.load()));
  return std::chrono::steady_clock::now() - last < cfg_.dead_after / 2;
}

std::uint64_t liveness::beats() const {
  std::lock_guard lk(mu_);
  return beats_;
}

} // namespace iaposte::store::detail
