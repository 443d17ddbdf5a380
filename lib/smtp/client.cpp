// The connection pool for one relay: lease a session, deliver, return or retire it.
#include "smtp/client.hpp"

#include <algorithm>
#include <deque>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "smtp/outcome.hpp"
#include "smtp/protocol.hpp"
#include "smtp/session.hpp"
#include "smtp/transaction.hpp"

namespace iaposte::smtp {

namespace asio = boost::asio;
using asio::awaitable;
using clock = session::clock;

namespace {

std::string helo_problem(const relay_config& cfg) {
  if (protocol::safe_domain(cfg.helo_name)) return {};
  return "invalid helo_name \"" + classify::sanitize(cfg.helo_name, 64) + "\"";
}

// Owns the session until its QUIT is answered or times out; independent of the client.
awaitable<void> quit_and_drop(std::unique_ptr<session> s) {
  co_await s->quit();
}

} // namespace

struct client::impl {
  // A send() waiting for a connection: woken by cancelling `wake` once `granted`, with either
  // an idle session handed over or, when `handed` is null, a free slot to open one.
  struct waiter {
    asio::steady_timer wake;
    std::unique_ptr<session> handed;
    bool granted = false;
  };

  // What acquire() gives: a slot, and the idle session in it when there was one.
  struct lease {
    bool granted = false;
    std::unique_ptr<session> s;
  };

  impl(asio::any_io_executor e, relay_config c)
      : ex(std::move(e)), cfg(std::make_shared<const relay_config>(std::move(c))), reaper(ex),
        max_connections(std::max<std::size_t>(cfg->max_connections, 1)) {
    auto t = tls::make_context(*cfg);
    tls_ctx = std::move(t.ctx);
    config_error = std::move(t.error);
    if (config_error.empty()) config_error = helo_problem(*cfg);
  }

  ~impl() {
    for (auto& s : idle)
      retire(std::move(s));
  }

  asio::any_io_executor ex;
  std::shared_ptr<const relay_config> cfg;
  std::shared_ptr<asio::ssl::context> tls_ctx;
  std::string config_error; // set: every send() is deferred with it (fix the config, no bounce)

  std::vector<std::unique_ptr<session>> idle; // oldest first; reuse takes the newest
  std::deque<waiter*> waiters;
  std::size_t slots = 0; // sessions open, busy or being opened: at most max_connections
  asio::steady_timer reaper;
  bool reaper_armed = false;
  std::uint64_t reaper_generation = 0;
  std::shared_ptr<int> alive = std::make_shared<int>(0); // guards timer handlers after ~impl
  std::size_t max_connections;
  std::size_t opened = 0;

  std::unique_ptr<session> make_session() {
    ++opened;
    return std::make_unique<session>(ex, cfg, tls_ctx);
  }

  // A session leaving the pool: QUIT when the conversation is still sane, else just closed.
  void retire(std::unique_ptr<session> s) {
    if (!s) return;
    if (s->usable()) asio::co_spawn(ex, quit_and_drop(std::move(s)), asio::detached);
  }

  // A slot without waiting when there is one (no coroutine frame on the hot path): the newest
  // idle session, or room to open one; nullopt when every connection is busy.
  std::optional<lease> try_acquire() {
    if (!idle.empty()) {
      auto s = std::move(idle.back());
      idle.pop_back();
      if (s->usable() && clock::now() - s->idle_since < cfg->idle_timeout)
        return lease{true, std::move(s)};
      retire(std::move(s)); // stale: its slot is ours to open a fresh one
      return lease{true, nullptr};
    }
    if (slots < max_connections) {
      ++slots;
      return lease{true, nullptr};
    }
    return std::nullopt;
  }

  // All connections busy: park without blocking the thread until release() hands one over.
  awaitable<lease> wait_for_slot() {
    waiter w{asio::steady_timer(ex, clock::time_point::max()), nullptr, false};
    waiters.push_back(&w);
    co_await w.wake.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!w.granted) { // the caller cancelled send()
      waiters.erase(std::find(waiters.begin(), waiters.end(), &w));
      co_return lease{};
    }
    co_return lease{true, std::move(w.handed)};
  }

  // Gives back the slot, with its session when that one can carry more mail.
  void release(std::unique_ptr<session> s) {
    bool keep = s && s->usable() && s->transactions() < cfg->max_messages_per_connection;
    if (!keep) {
      retire(std::move(s));
      free_slot();
      return;
    }
    if (!waiters.empty()) {
      waiter* w = waiters.front();
      waiters.pop_front();
      w->handed = std::move(s);
      w->granted = true;
      w->wake.cancel();
      return;
    }
    s->idle_since = clock::now();
    idle.push_back(std::move(s));
    arm_reaper();
  }

  void free_slot() {
    if (!waiters.empty()) { // the slot passes to the next waiter, who opens a connection
      waiter* w = waiters.front();
      waiters.pop_front();
      w->granted = true;
      w->wake.cancel();
      return;
    }
    --slots;
  }

  // One timer for all idle sessions, set for the oldest; idle is ordered by idle_since.
  void arm_reaper() {
    if (reaper_armed || idle.empty()) return;
    reaper_armed = true;
    reaper.expires_at(idle.front()->idle_since + cfg->idle_timeout);
    reaper.async_wait([this, alive = std::weak_ptr<int>(alive),
                       generation = reaper_generation](const boost::system::error_code&) {
      if (alive.expired() || generation != reaper_generation) return;
      reaper_armed = false;
      reap();
    });
  }

  void disarm_reaper() {
    ++reaper_generation;
    reaper_armed = false;
    reaper.cancel();
  }

  void reap() {
    auto now = clock::now();
    auto first_fresh = std::find_if(idle.begin(), idle.end(), [&](const auto& s) {
      return now - s->idle_since < cfg->idle_timeout;
    });
    std::vector<std::unique_ptr<session>> gone(std::make_move_iterator(idle.begin()),
                                               std::make_move_iterator(first_fresh));
    idle.erase(idle.begin(), first_fresh);
    for (auto& s : gone) {
      retire(std::move(s));
      free_slot();
    }
    arm_reaper();
  }

  std::optional<outcome> check(const envelope& env) const {
    if (!config_error.empty()) return classify::local_transient(config_error);
    if (env.rcpt_to.empty()) return classify::local_permanent("no recipients");
    if (!protocol::safe_path(env.mail_from))
      return classify::local_permanent("invalid sender address (control character, angle "
                                       "bracket or longer than 254 bytes)");
    for (std::size_t i = 0; i < env.rcpt_to.size(); ++i)
      if (env.rcpt_to[i].empty() || !protocol::safe_path(env.rcpt_to[i]))
        return classify::local_permanent("invalid recipient address #" + std::to_string(i + 1) +
                                         " (empty, control character, angle bracket or longer "
                                         "than 254 bytes)");
    return std::nullopt;
  }
};

client::client(asio::any_io_executor ex, relay_config cfg)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(cfg))) {}

client::~client() = default;

// One coroutine frame for the whole send (the pool's fast path does not suspend).
awaitable<outcome> client::send(const envelope& env, std::string_view message,
                                const dot_gate* dot) {
  impl& d = *impl_;
  auto done = [&env](outcome o) {
    transaction::settle(o, env.rcpt_to);
    return o;
  };
  if (auto bad = d.check(env)) co_return done(std::move(*bad));

  impl::lease l;
  if (auto now = d.try_acquire())
    l = std::move(*now);
  else
    l = co_await d.wait_for_slot();
  if (!l.granted)
    co_return done(classify::local_transient("cancelled while waiting for a connection"));
  std::unique_ptr<session> s = std::move(l.s);

  // A pooled connection may have died while idle (server timeout, 421 on shutdown): the RSET
  // that deliver() sends first on a reused connection tells, and the message then goes on a
  // fresh connection, once, without reporting the dead one.
  bool reused = s != nullptr;
  for (;;) {
    if (!s) {
      s = d.make_session();
      if (auto f = co_await s->open()) {
        d.retire(std::move(s)); // never pooled: it did not get through its setup
        d.free_slot();
        co_return done(std::move(*f));
      }
    }
    outcome o = co_await s->deliver(env, message, reused, dot);
    if (reused && s->lost_before_mail()) {
      d.retire(std::move(s)); // the slot stays ours for the fresh connection
      reused = false;
      continue;
    }
    d.release(std::move(s));
    co_return done(std::move(o));
  }
}

// The whole session setup a send would do (TLS and AUTH included, so a bad certificate or
// password shows at start-up), then QUIT. Outside the pool: it does not wait for a slot.
std::string client::config_problem(const relay_config& cfg) {
  auto t = tls::make_context(cfg);
  return t.error.empty() ? helo_problem(cfg) : t.error;
}

awaitable<outcome> client::probe() {
  impl& d = *impl_;
  if (!d.config_error.empty()) co_return classify::local_transient(d.config_error);
  auto s = d.make_session();
  std::optional<outcome> f = co_await s->open();
  outcome o = f ? std::move(*f) : classify::sent(s->greeting(), phase::greeting);
  co_await s->quit();
  co_return o;
}

void client::close_idle() {
  impl& d = *impl_;
  auto idle = std::move(d.idle);
  d.idle.clear();
  d.disarm_reaper();
  for (auto& s : idle) {
    d.retire(std::move(s));
    d.free_slot();
  }
}

std::size_t client::connections_opened() const {
  return impl_->opened;
}

std::size_t client::connections_open() const {
  return impl_->slots;
}

} // namespace iaposte::smtp
