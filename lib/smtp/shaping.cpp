// Token buckets, concurrency counts and slow-down state per destination and tenant; the gate
// that waits on them with timers.
#include "smtp/shaping.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace iaposte::smtp::shaping {

namespace asio = boost::asio;

const limits& limits_for(const std::map<std::string, limits, std::less<>>& m, std::string_view key,
                         const limits& fallback) {
  if (auto it = m.find(key); it != m.end()) return it->second;
  // ".example.com" covers every subdomain of example.com, nearest parent first.
  for (auto dot = key.find('.'); dot != std::string_view::npos; dot = key.find('.', dot + 1))
    if (auto it = m.find(key.substr(dot)); it != m.end()) return it->second;
  return fallback;
}

// --- token_bucket ---

token_bucket::token_bucket(double rate, double burst, clock::time_point now)
    : rate_(std::max(rate, 0.0)), burst_(std::max(burst, 1.0)), tokens_(burst_), last_(now) {}

void token_bucket::refill(clock::time_point now) {
  if (now <= last_) return;
  std::chrono::duration<double> dt = now - last_;
  tokens_ = std::min(burst_, tokens_ + dt.count() * rate_);
  last_ = now;
}

clock::duration token_bucket::wait_time(clock::time_point now) {
  if (rate_ <= 0) return clock::duration::zero();
  refill(now);
  if (tokens_ >= 1.0) return clock::duration::zero();
  std::chrono::duration<double> need((1.0 - tokens_) / rate_);
  // Rounded up, so that waiting this long always finds the token there.
  return std::chrono::ceil<clock::duration>(need) + clock::duration(1);
}

void token_bucket::take(clock::time_point now) {
  if (rate_ <= 0) return;
  refill(now);
  tokens_ = std::max(tokens_ - 1.0, 0.0);
}

void token_bucket::set_rate(double rate, double burst, clock::time_point now) {
  refill(now);
  rate_ = std::max(rate, 0.0);
  burst_ = std::max(burst, 1.0);
  tokens_ = std::min(tokens_, burst_);
}

bool token_bucket::full(clock::time_point now) {
  if (rate_ <= 0) return true;
  refill(now);
  return tokens_ >= burst_;
}

// --- shaper ---

shaper::shaper(config cfg) : cfg_(std::move(cfg)) {
  auto& s = cfg_.slow_down;
  if (!(s.factor > 0 && s.factor < 1)) s.factor = 0.5;
  s.min_rate = std::max(s.min_rate, 0.001);
  if (s.unlimited_rate <= 0) s.unlimited_rate = 10;
}

shaper::key_state& shaper::destination(std::string_view d, clock::time_point now) {
  auto it = destinations_.find(std::string(d));
  if (it == destinations_.end()) {
    const limits& l = limits_for(cfg_.destinations, d, cfg_.destination_default);
    it = destinations_.emplace(std::string(d), key_state{l, token_bucket(l.rate, l.burst, now)})
             .first;
  }
  recover(it->second, now);
  return it->second;
}

shaper::key_state& shaper::tenant(std::string_view t, clock::time_point now) {
  auto it = tenants_.find(std::string(t));
  if (it == tenants_.end()) {
    auto m = cfg_.tenants.find(t);
    const limits& l = m != cfg_.tenants.end() ? m->second : cfg_.tenant_default;
    it = tenants_.emplace(std::string(t), key_state{l, token_bucket(l.rate, l.burst, now)}).first;
  }
  return it->second;
}

// Each quiet cool-down since the last change gives back one step (rate / factor), until the
// configured rate (or unlimited) is reached again.
void shaper::recover(key_state& s, clock::time_point now) {
  const auto& sd = cfg_.slow_down;
  while (s.slowed_rate > 0 && now - s.last_change >= sd.cooldown) {
    s.last_change += sd.cooldown;
    s.slowed_rate /= sd.factor;
    double ceiling = s.lim.rate > 0 ? s.lim.rate : sd.unlimited_rate;
    if (s.slowed_rate >= ceiling) {
      s.slowed_rate = 0;
      s.bucket.set_rate(s.lim.rate, s.lim.burst, now);
    } else {
      s.bucket.set_rate(s.slowed_rate, 1, now);
    }
  }
}

shaper::decision shaper::try_acquire(std::string_view d, std::string_view t,
                                     clock::time_point now) {
  key_state& ds = destination(d, now);
  key_state& ts = tenant(t, now);
  decision out;
  auto full = [](const key_state& s) {
    return s.lim.max_concurrent > 0 && s.in_flight >= s.lim.max_concurrent;
  };
  if (full(ds) || full(ts)) return out; // retry when a send ends
  auto wait = std::max(ds.bucket.wait_time(now), ts.bucket.wait_time(now));
  if (wait > clock::duration::zero()) {
    out.retry_at = now + wait;
    return out;
  }
  ds.bucket.take(now);
  ts.bucket.take(now);
  ++ds.in_flight;
  ++ts.in_flight;
  out.granted = true;
  return out;
}

void shaper::release(std::string_view d, std::string_view t) {
  if (auto it = destinations_.find(std::string(d));
      it != destinations_.end() && it->second.in_flight)
    --it->second.in_flight;
  if (auto it = tenants_.find(std::string(t)); it != tenants_.end() && it->second.in_flight)
    --it->second.in_flight;
}

bool shaper::on_reply(std::string_view d, const reply& r, clock::time_point now) {
  if (!r.asks_to_slow_down()) return false;
  key_state& s = destination(d, now);
  const auto& sd = cfg_.slow_down;
  // Sends in flight together all hear the same "slow down": one cut per settle period.
  if (s.slowed_rate > 0 && now - s.last_change < sd.settle) return false;
  double current = s.slowed_rate > 0 ? s.slowed_rate
                   : s.lim.rate > 0  ? s.lim.rate
                                     : sd.unlimited_rate;
  s.slowed_rate = std::max(current * sd.factor, sd.min_rate);
  s.last_change = now;
  s.bucket.set_rate(s.slowed_rate, 1, now); // no burst while slowed
  return true;
}

double shaper::rate(std::string_view d, clock::time_point now) {
  return destination(d, now).bucket.rate();
}

std::size_t shaper::in_flight(std::string_view d) const {
  auto it = destinations_.find(std::string(d));
  return it == destinations_.end() ? 0 : it->second.in_flight;
}

std::size_t shaper::tenant_in_flight(std::string_view t) const {
  auto it = tenants_.find(std::string(t));
  return it == tenants_.end() ? 0 : it->second.in_flight;
}

const limits& shaper::destination_limits(std::string_view d) const {
  return limits_for(cfg_.destinations, d, cfg_.destination_default);
}

void shaper::sweep(clock::time_point now) {
  auto idle = [&](auto& m, bool is_destination) {
    for (auto it = m.begin(); it != m.end();) {
      auto& s = it->second;
      if (is_destination) recover(s, now);
      if (s.in_flight == 0 && s.slowed_rate == 0 && s.bucket.full(now))
        it = m.erase(it);
      else
        ++it;
    }
  };
  idle(destinations_, true);
  idle(tenants_, false);
}

// --- gate ---

struct gate::impl {
  impl(asio::any_io_executor e, config c) : ex(std::move(e)), state(std::move(c)) {}

  asio::any_io_executor ex;
  shaping::shaper state;
  std::vector<asio::steady_timer*> waiters; // parked acquire()s, woken on every release
  std::size_t since_sweep = 0;

  void release(std::string_view d, std::string_view t) {
    state.release(d, t);
    for (auto* w : waiters)
      w->cancel(); // each re-checks; the one that fits goes
  }
};

gate::gate(asio::any_io_executor ex, config cfg)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(cfg))) {}

gate::~gate() = default;

gate::permit::permit(permit&& o) noexcept
    : owner_(std::exchange(o.owner_, nullptr)), destination_(std::move(o.destination_)),
      tenant_(std::move(o.tenant_)) {}

gate::permit& gate::permit::operator=(permit&& o) noexcept {
  if (this != &o) {
    if (owner_) owner_->release(destination_, tenant_);
    owner_ = std::exchange(o.owner_, nullptr);
    destination_ = std::move(o.destination_);
    tenant_ = std::move(o.tenant_);
  }
  return *this;
}

gate::permit::~permit() {
  if (owner_) owner_->release(destination_, tenant_);
}

asio::awaitable<gate::permit> gate::acquire(std::string_view destination, std::string_view tenant) {
  permit p; // owns copies of the keys before the first suspension
  p.destination_ = std::string(destination);
  p.tenant_ = std::string(tenant);
  impl& d = *impl_;
  if (++d.since_sweep >= 4096) {
    d.since_sweep = 0;
    d.state.sweep(clock::now());
  }
  for (;;) {
    auto dec = d.state.try_acquire(p.destination_, p.tenant_, clock::now());
    if (dec.granted) {
      p.owner_ = &d;
      co_return p;
    }
    // Parked until retry_at (a token) or a release (a slot); unlisted even if the coroutine
    // is destroyed while parked.
    struct parked {
      parked(impl& d, clock::time_point at) : d(d), t(d.ex, at) { d.waiters.push_back(&t); }
      ~parked() { std::erase(d.waiters, &t); }
      impl& d;
      asio::steady_timer t;
    } w(d, dec.retry_at);
    co_await w.t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void gate::on_reply(std::string_view destination, const reply& r) {
  impl_->state.on_reply(destination, r, clock::now());
}

shaping::shaper& gate::shaper() {
  return impl_->state;
}

} // namespace iaposte::smtp::shaping
