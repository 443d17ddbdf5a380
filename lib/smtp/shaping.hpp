// Traffic shaping: per destination and per tenant concurrency and rate, slowed by 421/451.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "smtp/reply.hpp"

namespace iaposte::smtp::shaping {

using clock = std::chrono::steady_clock;

struct limits {
  std::size_t max_concurrent = 0; // sends at once; 0: unlimited
  double rate = 0;                // messages per second; 0: unlimited
  double burst = 0;               // bucket size: sends allowed at once after a quiet time; 0: 1
  // For the connections to this destination (direct mode; the relay's own settings otherwise).
  std::size_t max_connections = 0;             // 0: the smtp default
  std::size_t max_messages_per_connection = 0; // 0: the smtp default
};

// A 421 or 451 from a destination ("too many connections", "try again later") lowers its rate
// at once; each quiet cool-down period then raises it back by the same factor (AIMD-like, as
// the big receivers expect senders to back off).
struct slow_down_config {
  double factor = 0.5;        // rate multiplier on a slow-down reply, in (0, 1)
  double min_rate = 0.05;     // messages per second, the floor
  double unlimited_rate = 10; // the rate an unlimited destination is assumed to have had
  std::chrono::milliseconds cooldown{60000}; // quiet time before each step back up
  std::chrono::milliseconds settle{1000};    // replies this close to the last cut count once
};

struct config {
  limits destination_default;
  std::map<std::string, limits, std::less<>> destinations; // by domain (or relay host)
  limits tenant_default;
  std::map<std::string, limits, std::less<>> tenants;
  slow_down_config slow_down;
};

// The limits for `key`: its own entry, else the entry of a parent domain given as
// ".example.com", else `fallback`.
const limits& limits_for(const std::map<std::string, limits, std::less<>>& m, std::string_view key,
                         const limits& fallback);

// Tokens at `rate` per second up to `burst`. Rate 0: unlimited.
class token_bucket {
public:
  token_bucket() = default;
  token_bucket(double rate, double burst, clock::time_point now);

  // Zero when a token is there now; else how long until one will be.
  clock::duration wait_time(clock::time_point now);
  void take(clock::time_point now);
  // Keeps the tokens earned so far (at most the new burst).
  void set_rate(double rate, double burst, clock::time_point now);
  double rate() const { return rate_; }
  bool full(clock::time_point now);

private:
  void refill(clock::time_point now);
  double rate_ = 0, burst_ = 1, tokens_ = 1;
  clock::time_point last_{};
};

// The decisions, with time passed in: no clock, no timers, no I/O (unit-testable).
class shaper {
public:
  explicit shaper(config cfg);

  struct decision {
    bool granted = false;
    clock::time_point retry_at = clock::time_point::max(); // max: when a send ends
  };

  // Takes a send slot and a token from both the destination and the tenant, or neither.
  decision try_acquire(std::string_view destination, std::string_view tenant,
                       clock::time_point now);
  void release(std::string_view destination, std::string_view tenant);

  // Every reply that ended a send to `destination` (code 0: none). One that asks to slow down
  // (reply::asks_to_slow_down) cuts the rate; true when it did.
  bool on_reply(std::string_view destination, const reply& r, clock::time_point now);

  // The destination's rate now, in messages per second (0: unlimited).
  double rate(std::string_view destination, clock::time_point now);
  std::size_t in_flight(std::string_view destination) const;
  std::size_t tenant_in_flight(std::string_view tenant) const;
  const limits& destination_limits(std::string_view destination) const;

  // Forgets keys with nothing in flight, a full bucket and no slow-down: bounded memory.
  void sweep(clock::time_point now);
  std::size_t keys() const { return destinations_.size() + tenants_.size(); }

private:
  struct key_state {
    limits lim;
    token_bucket bucket;
    std::size_t in_flight = 0;
    double slowed_rate = 0; // 0: not slowed
    clock::time_point last_change{};
  };
  key_state& destination(std::string_view d, clock::time_point now);
  key_state& tenant(std::string_view t, clock::time_point now);
  void recover(key_state& s, clock::time_point now);

  config cfg_;
  std::unordered_map<std::string, key_state> destinations_, tenants_;
};

// The awaitable side: waits on timers, never blocks a thread. Same threading rule as
// smtp::client (one executor, no concurrent handlers); outlives every acquire() and permit.
class gate {
  struct impl;

public:
  gate(boost::asio::any_io_executor ex, config cfg);
  ~gate();
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;

  // Held for the duration of one send; releases the slot when destroyed.
  class permit {
  public:
    permit() = default;
    permit(permit&& o) noexcept;
    permit& operator=(permit&& o) noexcept;
    ~permit();
    explicit operator bool() const { return owner_ != nullptr; }

  private:
    friend class gate;
    impl* owner_ = nullptr;
    std::string destination_, tenant_;
  };

  // Waits (timers only) until both the destination and the tenant allow one more send.
  boost::asio::awaitable<permit> acquire(std::string_view destination, std::string_view tenant);
  void on_reply(std::string_view destination, const reply& r);
  shaping::shaper& shaper();

private:
  std::unique_ptr<impl> impl_;
};

} // namespace iaposte::smtp::shaping
