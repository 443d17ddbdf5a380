// Specification of the retry schedule.
#include <doctest/doctest.h>

#include <cmath>

#include "core/backoff.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_core_backoff_test {

using namespace iaposte::core;
using std::chrono::milliseconds;

namespace {

backoff_config no_jitter() {
  backoff_config c;
  c.initial = milliseconds{1000};
  c.multiplier = 2.0;
  c.max_delay = milliseconds{10000};
  c.jitter = 0.0;
  return c;
}

} // namespace

TEST_CASE("attempt 1 waits the initial delay, then it grows by the multiplier") {
  auto c = no_jitter();
  CHECK(backoff_delay(c, 1, 0.5) == milliseconds{1000});
  CHECK(backoff_delay(c, 2, 0.5) == milliseconds{2000});
  CHECK(backoff_delay(c, 3, 0.5) == milliseconds{4000});
  CHECK(backoff_delay(c, 4, 0.5) == milliseconds{8000});
  c.multiplier = 1.5;
  CHECK(backoff_delay(c, 3, 0.5) == milliseconds{2250});
}

TEST_CASE("the delay is capped at max_delay, even for huge attempt numbers") {
  auto c = no_jitter();
  CHECK(backoff_delay(c, 5, 0.5) == milliseconds{10000});
  CHECK(backoff_delay(c, 60, 0.5) == milliseconds{10000});
  CHECK(backoff_delay(c, 100000, 0.5) == milliseconds{10000});
  c.initial = milliseconds{20000};
  CHECK(backoff_delay(c, 1, 0.5) == milliseconds{10000});
}

TEST_CASE("attempt 0 or below counts as attempt 1") {
  auto c = no_jitter();
  CHECK(backoff_delay(c, 0, 0.5) == milliseconds{1000});
  CHECK(backoff_delay(c, -7, 0.5) == milliseconds{1000});
}

TEST_CASE("jitter spreads the delay evenly around it") {
  backoff_config c = no_jitter();
  c.jitter = 0.2;
  CHECK(backoff_delay(c, 1, 0.0) == milliseconds{800});
  CHECK(backoff_delay(c, 1, 0.5) == milliseconds{1000});
  CHECK(backoff_delay(c, 1, std::nextafter(1.0, 0.0)) == milliseconds{1200});
  CHECK(backoff_delay(c, 1, 0.999) >= milliseconds{1199});
  // Jitter applies after the cap.
  CHECK(backoff_delay(c, 10, 0.0) == milliseconds{8000});
  CHECK(backoff_delay(c, 10, 0.99999) == milliseconds{12000});
}

TEST_CASE("nonsense inputs give a sane, non-negative delay") {
  backoff_config c = no_jitter();
  c.jitter = 5.0; // clamped to 1: never negative
  CHECK(backoff_delay(c, 1, 0.0) == milliseconds{0});
  CHECK(backoff_delay(c, 1, 1.5) <= milliseconds{2000});
  CHECK(backoff_delay(c, 1, std::nan("")) >= milliseconds{0});
  c = no_jitter();
  c.multiplier = std::nan("");
  CHECK(backoff_delay(c, 3, 0.5) == milliseconds{1000});
}

TEST_CASE("the default schedule") {
  backoff_config c; // 1 s, x2, 5 min cap, ±20 %
  CHECK(backoff_delay(c, 1, 0.5) == milliseconds{1000});
  CHECK(backoff_delay(c, 5, 0.5) == milliseconds{16000});
  CHECK(backoff_delay(c, 9, 0.5) == milliseconds{256000});
  CHECK(backoff_delay(c, 10, 0.5) == milliseconds{300000});
  CHECK(backoff_delay(c, 10, 0.0) == milliseconds{240000});
}

} // namespace test_unit_core_backoff_test
