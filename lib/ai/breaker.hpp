// Circuit breaker per provider (internal): closed → open after N consecutive failures,
// open → half-open after the cool-down (one probe call), half-open → closed on success or
// back to open on failure. Time is passed in, so the state machine is tested without sleeps.
#pragma once

#include <chrono>

#include "ai/client.hpp"

namespace iaposte::ai::detail {

class breaker {
public:
  using clock = std::chrono::steady_clock;
  breaker(int failures, std::chrono::milliseconds cooldown)
      : threshold_(failures < 1 ? 1 : failures), cooldown_(cooldown) {}

  // May a call start now? In half-open, only one call (the probe) at a time.
  bool allow(clock::time_point now);
  void success();
  void failure(clock::time_point now);
  // The probe allowed by allow() did not happen (e.g. no concurrency slot): let another try.
  void abandon();
  breaker_state state() const { return state_; }

private:
  int threshold_;
  std::chrono::milliseconds cooldown_;
  breaker_state state_ = breaker_state::closed;
  int consecutive_ = 0;
  clock::time_point opened_at_{};
  bool probing_ = false;
};

} // namespace iaposte::ai::detail
