// The breaker's transitions.
#include "ai/breaker.hpp"

namespace iaposte::ai::detail {

bool breaker::allow(clock::time_point now) {
  switch (state_) {
  case breaker_state::closed:
    return true;
  case breaker_state::open:
    if (now - opened_at_ < cooldown_) return false;
    state_ = breaker_state::half_open;
    probing_ = true;
    return true;
  case breaker_state::half_open:
    if (probing_) return false;
    probing_ = true;
    return true;
  }
  return false;
}

void breaker::success() {
  state_ = breaker_state::closed;
  consecutive_ = 0;
  probing_ = false;
}

void breaker::failure(clock::time_point now) {
  probing_ = false;
  if (state_ == breaker_state::half_open) {
    state_ = breaker_state::open;
    opened_at_ = now;
    return;
  }
  if (++consecutive_ >= threshold_ && state_ == breaker_state::closed) {
    state_ = breaker_state::open;
    opened_at_ = now;
  }
}

void breaker::abandon() {
  probing_ = false;
}

} // namespace iaposte::ai::detail
