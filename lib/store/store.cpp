// The worker: queued claims, records and releases drained in batches (group
// commit), retried, parked.
#include "store/store.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include <pqxx/pqxx>

#include "store/batch.hpp"
#include "store/conninfo.hpp"
#include "store/liveness.hpp"
#include "store/log_event.hpp"
#include "store/lookup.hpp"
#include "store/migrate.hpp"

namespace iaposte::store {
namespace {

using steady = std::chrono::steady_clock;
using key_t = std::pair<std::string, std::string>; // (tenant, request_id)

struct claim_op {
  claim_request req;
  std::function<void(claim_result)> done;
};

struct record_op {
  event_record ev;
  std::function<void()> done;
};

struct release_op {
  std::string tenant, request_id;
  std::function<void()> done;
};

// Alternatives in detail::phase order.
using op = std::variant<claim_op, record_op, release_op>;

key_t key_of(const op& o) {
  return std::visit(
      [](const auto& x) -> key_t {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, claim_op>)
          return {x.req.tenant, x.req.request_id};
        else if constexpr (std::is_same_v<T, record_op>)
          return {x.ev.tenant, x.ev.request_id};
        else
          return {x.tenant, x.request_id};
      },
      o);
}

static_assert(
    std::is_same_v<std::variant_alternative_t<static_cast<std::size_t>(detail::phase::record), op>,
                   record_op> &&
    std::is_same_v<std::variant_alternative_t<static_cast<std::size_t>(detail::phase::release), op>,
                   release_op>);

detail::phase phase_of(const op& o) {
  return static_cast<detail::phase>(o.index());
}

const char* kind_name(const op& o) {
  constexpr const char* names[] = {"claim", "record", "release"};
  return names[o.index()];
}

// What an operation adds to its batch's statements, roughly: the content is what can be big.
std::size_t size_of(const op& o) {
  constexpr std::size_t overhead = 256;
  if (const auto* c = std::get_if<claim_op>(&o)) return overhead + c->req.content.size();
  if (const auto* r = std::get_if<record_op>(&o)) return overhead + r->ev.content.size();
  return overhead;
}

// When PG stays down, say so again at this pace rather than at every retry.
constexpr auto still_down_log_every = std::chrono::seconds{30};
// An idle worker checks its connection this often, so that healthy() tells the truth
// (the admin /readyz) without traffic.
constexpr auto idle_ping_every = std::chrono::seconds{5};
constexpr auto parked_backoff_max = std::chrono::seconds{60};

} // namespace

struct store::impl {
  store_config cfg;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<op> queue;
  std::deque<op> parked;
  std::set<key_t> parked_keys;
  steady::time_point parked_retry_at{};
  steady::duration parked_backoff{};
  std::size_t in_flight = 0;
  bool started = false, stopping = false;
  steady::time_point stop_deadline{};
  std::thread worker;

  std::atomic<bool> healthy{false};
  std::atomic<std::uint64_t> transactions{0}, connection_failures{0};

  // Worker thread only.
  std::unique_ptr<pqxx::connection> conn;
  steady::time_point down_since{}, last_down_log{};
  bool seen_down = false;

  detail::liveness live;

  explicit impl(store_config c)
      : cfg(std::move(c)),
        live({cfg.url, cfg.owner, cfg.heartbeat_interval, cfg.owner_dead_after}) {
    if (cfg.batch_max == 0) cfg.batch_max = 1;
  }

  std::string server() const { return detail::describe_server(cfg.url); }

  void enqueue(op o) {
    {
      std::lock_guard lk(mu);
      queue.push_back(std::move(o));
    }
    cv.notify_all();
  }

  // --- health ---------------------------------------------------------------------

  void connection_failed(const std::string& why) {
    conn.reset();
    ++connection_failures;
    const auto now = steady::now();
    if (healthy.exchange(false) || !seen_down) {
      seen_down = true;
      down_since = last_down_log = now;
      detail::log_event(spdlog::level::warn, "store.pg_unavailable",
                        {{"server", server()},
                         {"error", why},
                         {"retry_ms", cfg.retry_interval.count()},
                         {"pending", pending()}});
    } else if (now - last_down_log >= still_down_log_every) {
      last_down_log = now;
      detail::log_event(
          spdlog::level::warn, "store.pg_still_unavailable",
          {{"server", server()},
           {"error", why},
           {"down_s", std::chrono::duration_cast<std::chrono::seconds>(now - down_since).count()},
           {"pending", pending()}});
    }
  }

  void round_trip_ok() {
    if (!healthy.exchange(true) && seen_down)
      detail::log_event(spdlog::level::info, "store.pg_available",
                        {{"server", server()},
                         {"down_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                         steady::now() - down_since)
                                         .count()}});
  }

  // Opens the worker's connection if needed; false (and logged) when PG is unreachable.
  bool ensure_connected() {
    if (conn) return true;
    try {
      conn = detail::open_connection(cfg.url);
      detail::prepare_statements(*conn);
      return true;
    } catch (const std::exception& e) {
      connection_failed(detail::redact(e.what(), cfg.url));
      return false;
    }
  }

  void ping() {
    if (!ensure_connected()) return;
    try {
      pqxx::nontransaction n(*conn);
      n.exec("SELECT 1");
      round_trip_ok();
    } catch (const std::exception& e) {
      connection_failed(detail::describe_error(e, cfg.url));
    }
  }

  // --- waiting --------------------------------------------------------------------

  // Sleeps `d`, cut short by stop(); false once the stop deadline has passed.
  bool pause(steady::duration d) {
    std::unique_lock lk(mu);
    const auto until = steady::now() + d;
    for (;;) {
      const auto now = steady::now();
      if (stopping && now >= stop_deadline) return false;
      if (now >= until) return true;
      cv.wait_until(lk, stopping ? std::min(until, stop_deadline) : until);
    }
  }

  // --- batches --------------------------------------------------------------------

  // Under mu. A transaction runs claims, then records, then releases (detail::phase): the
  // batch stops before an operation that would run before one queued earlier for the same
  // request (e.g. a claim after a record: a request redelivered just after it was sent must
  // come back terminal; a record after a release). It also stops before the claim content
  // exceeds batch_max_bytes.
  std::vector<op> take_batch() {
    std::vector<op> batch;
    std::map<key_t, detail::phase> latest; // the latest phase taken, per request
    std::size_t bytes = 0;
    while (!queue.empty() && batch.size() < cfg.batch_max) {
      op& o = queue.front();
      key_t k = key_of(o);
      if (parked_keys.count(k)) {
        park_locked(std::move(o));
        queue.pop_front();
        continue;
      }
      const detail::phase ph = phase_of(o);
      const std::size_t size = size_of(o);
      if (!batch.empty() && bytes + size > cfg.batch_max_bytes) break;
      auto [it, added] = latest.emplace(std::move(k), ph);
      if (!added) {
        if (ph < it->second) break;
        it->second = ph;
      }
      bytes += size;
      batch.push_back(std::move(o));
      queue.pop_front();
    }
    return batch;
  }

  void park_locked(op o) {
    if (parked.empty()) {
      parked_backoff = cfg.retry_interval;
      parked_retry_at = steady::now() + parked_backoff;
    }
    parked_keys.insert(key_of(o));
    parked.push_back(std::move(o));
  }

  // One transaction for the whole batch; throws on failure.
  void attempt(std::vector<op>& batch) {
    detail::batch_ops ops;
    for (auto& o : batch) {
      if (auto* c = std::get_if<claim_op>(&o))
        ops.claims.push_back({&c->req, {}});
      else if (auto* r = std::get_if<record_op>(&o))
        ops.records.push_back({&r->ev});
      else {
        auto& rel = std::get<release_op>(o);
        ops.releases.push_back({&rel.tenant, &rel.request_id});
      }
    }
    detail::run_batch(*conn, {cfg.owner, cfg.lease, live.dead_owners()}, ops);
    round_trip_ok();
    ++transactions;
    std::size_t ci = 0;
    for (auto& o : batch) {
      try {
        if (auto* c = std::get_if<claim_op>(&o)) {
          if (c->done) c->done(std::move(ops.claims[ci].result));
          ++ci;
        } else {
          std::visit(
              [](auto& x) {
                if constexpr (!std::is_same_v<std::decay_t<decltype(x)>, claim_op>)
                  if (x.done) x.done();
              },
              o);
        }
      } catch (const std::exception& e) {
        const auto [tenant, request_id] = key_of(o);
        detail::log_event(spdlog::level::err, "store.callback_failed",
                          {{"tenant", tenant}, {"request_id", request_id}, {"error", e.what()}});
      }
    }
  }

  // Completes every operation of `batch` or parks it; returns early, leaving operations
  // undone, only when the stop deadline passes.
  void execute(std::vector<op> batch) {
    {
      // Operations behind a parked one of the same request wait with it, in order.
      std::lock_guard lk(mu);
      std::vector<op> keep;
      for (auto& o : batch) {
        if (parked_keys.count(key_of(o)))
          park_locked(std::move(o));
        else
          keep.push_back(std::move(o));
      }
      batch = std::move(keep);
    }
    if (batch.empty()) return;
    for (;;) {
      if (!ensure_connected()) {
        if (!pause(cfg.retry_interval)) return;
        continue;
      }
      try {
        attempt(batch);
        return;
      } catch (const std::exception& e) {
        const std::string why = detail::describe_error(e, cfg.url);
        switch (detail::classify(e)) {
        case detail::failure_kind::connection:
          connection_failed(why);
          if (!pause(cfg.retry_interval)) return;
          continue;
        case detail::failure_kind::transient:
          round_trip_ok(); // the server answered
          detail::log_event(spdlog::level::warn, "store.batch_retry",
                            {{"error", why}, {"operations", batch.size()}});
          if (!pause(cfg.retry_interval)) return;
          continue;
        case detail::failure_kind::poison:
          round_trip_ok();
          isolate(std::move(batch), why);
          return;
        }
      }
    }
  }

  // A batch failed for a reason that retrying will not fix. Bisect (each half its own
  // transaction) until the failing operation is alone, then park it: logged, retried with
  // backoff, never completed without being written (its offset must stay uncommitted).
  void isolate(std::vector<op> batch, const std::string& why) {
    if (batch.size() == 1) {
      const auto [tenant, request_id] = key_of(batch.front());
      detail::log_event(spdlog::level::err, "store.operation_parked",
                        {{"tenant", tenant},
                         {"request_id", request_id},
                         {"operation", kind_name(batch.front())},
                         {"error", why}});
      std::lock_guard lk(mu);
      park_locked(std::move(batch.front()));
      return;
    }
    detail::log_event(spdlog::level::warn, "store.batch_isolating",
                      {{"error", why}, {"operations", batch.size()}});
    const auto mid = batch.begin() + static_cast<std::ptrdiff_t>(batch.size() / 2);
    std::vector<op> second(std::make_move_iterator(mid), std::make_move_iterator(batch.end()));
    batch.erase(mid, batch.end());
    execute(std::move(batch));
    execute(std::move(second));
  }

  // Under lk. Takes the parked operations out and retries each alone, in order.
  void retry_parked(std::unique_lock<std::mutex>& lk) {
    std::deque<op> again = std::move(parked);
    parked.clear();
    parked_keys.clear();
    const auto backoff = parked_backoff;
    in_flight += again.size();
    lk.unlock();
    detail::log_event(spdlog::level::info, "store.parked_retry", {{"operations", again.size()}});
    for (auto& o : again) {
      if (!pause(steady::duration::zero())) break; // stop deadline passed: left undone
      std::vector<op> one;
      one.push_back(std::move(o));
      execute(std::move(one));
      std::lock_guard g(mu);
      --in_flight;
    }
    lk.lock();
    if (!parked.empty()) {
      parked_backoff = std::min<steady::duration>(backoff * 2, parked_backoff_max);
      parked_retry_at = steady::now() + parked_backoff;
    }
  }

  void run() {
    ping();
    auto next_ping = steady::now() + (healthy ? idle_ping_every : cfg.retry_interval);
    std::unique_lock lk(mu);
    for (;;) {
      const auto now = steady::now();
      if (stopping && (queue.empty() || now >= stop_deadline)) break;
      if (!parked.empty() && now >= parked_retry_at) {
        retry_parked(lk);
        continue;
      }
      if (queue.empty()) {
        if (now >= next_ping) {
          lk.unlock();
          ping();
          lk.lock();
          next_ping = steady::now() + (healthy ? idle_ping_every : cfg.retry_interval);
          continue;
        }
        auto wake = next_ping;
        if (!parked.empty()) wake = std::min(wake, parked_retry_at);
        cv.wait_until(lk, wake);
        continue;
      }
      std::vector<op> batch = take_batch();
      in_flight = batch.size();
      lk.unlock();
      execute(std::move(batch));
      lk.lock();
      in_flight = 0;
      next_ping = steady::now() + idle_ping_every;
    }
    const std::size_t left = queue.size() + in_flight + parked.size();
    lk.unlock();
    if (left > 0)
      detail::log_event(spdlog::level::warn, "store.stopped_with_pending", {{"operations", left}});
    conn.reset();
  }

  std::size_t pending() const {
    std::lock_guard lk(mu);
    return queue.size() + in_flight + parked.size();
  }
};

store::store(store_config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

store::~store() {
  stop();
}

void store::migrate() {
  detail::apply_migrations(impl_->cfg.url);
}

void store::start() {
  std::lock_guard lk(impl_->mu);
  if (impl_->started) return;
  impl_->started = true;
  impl_->worker = std::thread([this] { impl_->run(); });
  impl_->live.start();
}

void store::stop(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lk(impl_->mu);
    if (!impl_->stopping) {
      impl_->stopping = true;
      impl_->stop_deadline = steady::now() + deadline;
    }
  }
  impl_->cv.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
  // What it still held (a drain cut short) is taken over by the others at once.
  impl_->live.stop(true);
}

void store::claim(claim_request req, std::function<void(claim_result)> done) {
  impl_->enqueue(claim_op{std::move(req), std::move(done)});
}

void store::record(event_record ev, std::function<void()> done) {
  impl_->enqueue(record_op{std::move(ev), std::move(done)});
}

void store::release(std::string tenant, std::string request_id, std::function<void()> done) {
  impl_->enqueue(release_op{std::move(tenant), std::move(request_id), std::move(done)});
}

bool store::leases_safe() const {
  return impl_->live.fresh();
}
std::uint64_t store::heartbeats() const {
  return impl_->live.beats();
}
bool store::healthy() const {
  return impl_->healthy;
}
std::uint64_t store::transactions() const {
  return impl_->transactions;
}
std::uint64_t store::connection_failures() const {
  return impl_->connection_failures;
}
std::size_t store::pending() const {
  return impl_->pending();
}
std::size_t store::parked() const {
  std::lock_guard lk(impl_->mu);
  return impl_->parked.size();
}

std::optional<message_row> store::find(const std::string& tenant, const std::string& request_id) {
  return detail::find_message(impl_->cfg.url, tenant, request_id);
}

std::vector<event_record> store::history(const std::string& tenant, const std::string& request_id) {
  return detail::message_history(impl_->cfg.url, tenant, request_id);
}

} // namespace iaposte::store
