// Traffic shaping: token buckets, concurrency caps, slow-down on 421/451 and recovery.
// The shaper takes time as an argument, so these are exact; the gate tests use wide bounds.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "smtp/shaping.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_shaping_test {

using namespace iaposte::smtp::shaping;
using iaposte::smtp::reply;
using namespace std::chrono_literals;
namespace test = iaposte::smtp::test;

namespace {

const clock::time_point t0 = clock::time_point{} + 1000h;

config dest(limits l) {
  config c;
  c.destination_default = l;
  return c;
}

// How many sends the shaper lets through at `now` (each released at once: rate only).
int drain(shaper& s, std::string_view d, clock::time_point now) {
  int n = 0;
  while (s.try_acquire(d, "t", now).granted) {
    s.release(d, "t");
    ++n;
  }
  return n;
}

} // namespace

TEST_CASE("a token bucket gives its burst at once, then one token per 1/rate") {
  token_bucket b(10, 5, t0); // 10/s, burst 5
  for (int i = 0; i < 5; ++i) {
    CHECK(b.wait_time(t0) == clock::duration::zero());
    b.take(t0);
  }
  auto w = b.wait_time(t0);
  CHECK(w > 99ms);
  CHECK(w <= 101ms);
  CHECK(b.wait_time(t0 + 100ms + 1us) == clock::duration::zero());
  // A long quiet time refills up to the burst, not beyond.
  CHECK(b.full(t0 + 10s));
}

TEST_CASE("an unlimited bucket never waits") {
  token_bucket b;
  for (int i = 0; i < 1000; ++i)
    b.take(t0);
  CHECK(b.wait_time(t0) == clock::duration::zero());
}

TEST_CASE("the destination rate lets through burst then rate x seconds") {
  shaper s(dest({.rate = 2, .burst = 3}));
  CHECK(drain(s, "example.com", t0) == 3);
  CHECK(drain(s, "example.com", t0 + 500ms + 1us) == 1);
  CHECK(drain(s, "example.com", t0 + 1500ms + 2us) == 2);
  // Another destination has its own bucket.
  CHECK(drain(s, "example.net", t0) == 3);
}

TEST_CASE("a refused acquire says when a token will be there") {
  shaper s(dest({.rate = 4, .burst = 1}));
  CHECK(s.try_acquire("d", "t", t0).granted);
  s.release("d", "t");
  auto dec = s.try_acquire("d", "t", t0);
  CHECK_FALSE(dec.granted);
  CHECK(dec.retry_at > t0 + 249ms);
  CHECK(dec.retry_at <= t0 + 251ms);
  CHECK(s.try_acquire("d", "t", dec.retry_at).granted);
}

TEST_CASE("max_concurrent caps the sends in flight; a release frees a slot") {
  shaper s(dest({.max_concurrent = 2}));
  CHECK(s.try_acquire("d", "t", t0).granted);
  CHECK(s.try_acquire("d", "t", t0).granted);
  auto dec = s.try_acquire("d", "t", t0);
  CHECK_FALSE(dec.granted);
  CHECK(dec.retry_at == clock::time_point::max()); // nothing to wait for but a release
  CHECK(s.in_flight("d") == 2);
  s.release("d", "t");
  CHECK(s.try_acquire("d", "t", t0).granted);
  CHECK(s.try_acquire("other", "t", t0).granted); // per destination
}

TEST_CASE("tenant limits apply across destinations, and a refusal takes no token anywhere") {
  config c;
  c.tenants["small"] = {.max_concurrent = 1, .rate = 1, .burst = 1};
  c.destination_default = {.rate = 1, .burst = 1};
  shaper s(c);
  CHECK(s.try_acquire("a.test", "small", t0).granted);
  CHECK_FALSE(s.try_acquire("b.test", "small", t0).granted); // tenant's one slot is taken
  s.release("a.test", "small");
  CHECK_FALSE(s.try_acquire("b.test", "small", t0).granted); // tenant's token is spent
  // b.test kept its token: another tenant gets it at once.
  CHECK(s.try_acquire("b.test", "big", t0).granted);
  CHECK(s.tenant_in_flight("small") == 0);
  CHECK(s.tenant_in_flight("big") == 1);
}

TEST_CASE("per-domain limits: exact entry, then a parent given as .domain, then the default") {
  config c;
  c.destination_default = {.rate = 100};
  c.destinations["gmail.com"] = {.rate = 5};
  c.destinations[".example.com"] = {.rate = 7};
  shaper s(c);
  CHECK(s.rate("gmail.com", t0) == 5);
  CHECK(s.rate("mx.example.com", t0) == 7);
  CHECK(s.rate("example.com", t0) == 100);
  CHECK(s.rate("other.org", t0) == 100);
}

TEST_CASE("a 421 or a 4.7.x halves the destination's rate; each quiet cool-down doubles it back") {
  config c = dest({.rate = 8, .burst = 8});
  c.slow_down.factor = 0.5;
  c.slow_down.cooldown = 60s;
  c.slow_down.settle = 1s;
  shaper s(c);
  CHECK_FALSE(s.on_reply("d", reply{250, "2.0.0", {}}, t0));
  CHECK_FALSE(s.on_reply("d", reply{450, "", {}}, t0));      // a mailbox matter, not a rate
  CHECK_FALSE(s.on_reply("d", reply{451, "4.3.0", {}}, t0)); // a local error, not a rate
  CHECK(s.rate("d", t0) == 8);
  CHECK(s.on_reply("d", reply{421, "", {}}, t0));
  CHECK(s.rate("d", t0) == 4);
  CHECK_FALSE(
      s.on_reply("d", reply{451, "4.7.1", {}}, t0 + 100ms)); // same burst of replies: one cut
  CHECK(s.on_reply("d", reply{451, "4.7.1", {}}, t0 + 2s));
  CHECK(s.rate("d", t0 + 2s) == 2);
  CHECK(s.rate("other", t0 + 2s) == 8); // only that destination
  // No burst while slowed: one send, then 1/rate.
  CHECK(drain(s, "d", t0 + 3s) == 1);
  CHECK(s.rate("d", t0 + 61s) == 2);
  CHECK(s.rate("d", t0 + 62s) == 4);
  CHECK(s.rate("d", t0 + 122s) == 8); // restored, with its burst
  CHECK(drain(s, "d", t0 + 200s) == 8);
}

TEST_CASE("an unlimited destination that says slow down gets a rate, then unlimited again") {
  config c = dest({});
  c.slow_down.unlimited_rate = 10;
  c.slow_down.cooldown = 30s;
  shaper s(c);
  CHECK(s.rate("d", t0) == 0);
  CHECK(s.on_reply("d", reply{421, "", {}}, t0));
  CHECK(s.rate("d", t0) == 5);
  CHECK(s.rate("d", t0 + 30s) == 0);
}

TEST_CASE("the slow-down never goes below min_rate") {
  config c = dest({.rate = 1});
  c.slow_down.min_rate = 0.3;
  c.slow_down.settle = 0ms;
  shaper s(c);
  for (int i = 0; i < 10; ++i)
    s.on_reply("d", reply{421, "", {}}, t0 + std::chrono::milliseconds(i));
  CHECK(s.rate("d", t0 + 10ms) == doctest::Approx(0.3));
}

TEST_CASE("sweep forgets idle keys and keeps busy or slowed ones") {
  shaper s(dest({.rate = 1}));
  CHECK(s.try_acquire("busy", "t", t0).granted);
  CHECK(s.try_acquire("idle", "t2", t0).granted);
  s.release("idle", "t2");
  s.on_reply("slow", reply{421, "", {}}, t0);
  s.sweep(t0 + 10s);
  CHECK(s.in_flight("busy") == 1);
  CHECK(s.keys() == 3); // busy, slow, tenant t
}

TEST_CASE("gate: acquire waits on a timer for the rate; 10 sends at 20/s take about 450 ms") {
  boost::asio::io_context ioc;
  gate g(ioc.get_executor(), dest({.rate = 20, .burst = 1}));
  auto body = [](gate* g) -> boost::asio::awaitable<int> {
    for (int i = 0; i < 10; ++i) {
      auto p = co_await g->acquire("d", "t");
      if (!p) co_return i;
    }
    co_return 10;
  };
  auto start = clock::now();
  CHECK(test::run(ioc, body(&g), 10000ms) == 10);
  auto took = clock::now() - start;
  CHECK(took >= 449ms); // 9 intervals of 50 ms; a timer never fires early
  CHECK(took < 5s);     // generous: a shared CI machine
}

TEST_CASE("gate: no more than max_concurrent permits are held at once; waiters wake on release") {
  boost::asio::io_context ioc;
  gate g(ioc.get_executor(), dest({.max_concurrent = 2}));
  int held = 0, peak = 0, done = 0;
  auto one = [](gate* g, int* held, int* peak, int* done) -> boost::asio::awaitable<void> {
    auto p = co_await g->acquire("d", "t");
    *peak = std::max(*peak, ++*held);
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, 20ms);
    co_await t.async_wait(boost::asio::use_awaitable);
    --*held;
    ++*done;
  };
  for (int i = 0; i < 7; ++i)
    boost::asio::co_spawn(ioc, one(&g, &held, &peak, &done), boost::asio::detached);
  CHECK(test::run_until(
      ioc, [&] { return done == 7; }, 10000ms));
  CHECK(peak == 2);
  CHECK(g.shaper().in_flight("d") == 0);
}

} // namespace test_unit_smtp_shaping_test
