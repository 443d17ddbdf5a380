// The retry schedule: exponential growth from `initial`, capped, with even jitter.
#include "core/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace iaposte::core {

std::chrono::milliseconds backoff_delay(const backoff_config& cfg, int attempt,
                                        double unit_random) {
  if (attempt < 1) attempt = 1;
  // NaN or out-of-range inputs from a misconfiguration must not make the delay negative or NaN.
  if (!(unit_random >= 0.0)) unit_random = 0.0;
  if (unit_random >= 1.0) unit_random = std::nextafter(1.0, 0.0);
  double jitter = std::isfinite(cfg.jitter) ? std::clamp(cfg.jitter, 0.0, 1.0) : 0.0;
  double multiplier = std::isfinite(cfg.multiplier) && cfg.multiplier > 0 ? cfg.multiplier : 1.0;

  double cap = static_cast<double>(cfg.max_delay.count());
  double base = static_cast<double>(cfg.initial.count()) * std::pow(multiplier, attempt - 1);
  if (!(base <= cap)) base = cap; // also catches inf
  double delay = base * (1.0 + jitter * (2.0 * unit_random - 1.0));
  return std::chrono::milliseconds{std::max<long long>(0, std::llround(delay))};
}

} // namespace iaposte::core
