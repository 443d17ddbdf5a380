// The retry schedule: delay before attempt n+1, with jitter.
#pragma once

#include <chrono>

namespace iaposte::core {

struct backoff_config {
  std::chrono::milliseconds initial{1000};
  double multiplier = 2.0;
  std::chrono::milliseconds max_delay{300000};
  double jitter = 0.2; // fraction of the delay, spread evenly around it
  int max_attempts = 5;
};

// Delay after failed attempt `attempt` (1-based): min(initial * multiplier^(attempt-1), max_delay),
// then scaled by (1 + jitter * (2*unit_random - 1)), unit_random in [0, 1).
std::chrono::milliseconds backoff_delay(const backoff_config& cfg, int attempt, double unit_random);

} // namespace iaposte::core
