// Process metrics: counters, gauges and fixed-bucket histograms registered once by name and
// rendered in the Prometheus text exposition format 0.0.4.
#pragma once

// Kept light on purpose (included by every component that counts something): no Asio, no JSON.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iaposte::metrics {

// Constant labels of one series, e.g. {{"provider", "a"}, {"status", "sent"}}.
using labels = std::vector<std::pair<std::string, std::string>>;

// Monotonic count. inc() is one relaxed atomic add: safe from any thread, never blocks.
class counter {
public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down (queue depth, pool size). Lock-free on x86-64 and aarch64.
class gauge {
public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
  void inc() noexcept { add(1.0); }
  void dec() noexcept { add(-1.0); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0.0};
};

// Observations counted into fixed upper bounds ("le"), plus their sum; +Inf is implicit.
// observe() touches two atomics and never allocates.
class histogram {
public:
  // `bounds`: finite, strictly increasing (checked by registry::histogram).
  explicit histogram(std::vector<double> bounds);

  void observe(double v) noexcept {
    std::size_t i = 0;
    // A NaN compares false with every bound, so it lands in +Inf only.
    while (i < bounds_.size() && !(v <= bounds_[i]))
      ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
  }
  // Latencies are exported in seconds (Prometheus base unit).
  void observe(std::chrono::steady_clock::duration d) noexcept {
    observe(std::chrono::duration<double>(d).count());
  }

  const std::vector<double>& bounds() const noexcept { return bounds_; }
  // Observations in bucket i alone (not cumulative); i == bounds().size() is the +Inf bucket.
  std::uint64_t bucket_count(std::size_t i) const noexcept {
    return buckets_[i].load(std::memory_order_relaxed);
  }
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  std::uint64_t count() const noexcept;

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_; // bounds_.size() + 1
  std::atomic<double> sum_{0.0};
};

// Request/attempt latencies in seconds, from 5 ms to 30 s.
std::vector<double> latency_buckets();

// Owns every metric; hands out references that stay valid as long as the registry lives, so the
// hot path keeps them and never looks a name up. Registration and rendering take a mutex;
// updates do not. Registering the same name and labels again returns the same metric;
// a name reused with another type (or a histogram with other buckets) throws
// std::invalid_argument, as do invalid metric or label names. The first help text wins.
class registry {
public:
  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  metrics::counter& counter(std::string_view name, std::string_view help, metrics::labels l = {});
  metrics::gauge& gauge(std::string_view name, std::string_view help, metrics::labels l = {});
  metrics::histogram& histogram(std::string_view name, std::string_view help,
                                std::vector<double> bounds, metrics::labels l = {});
  // A gauge evaluated at scrape time (e.g. in-flight messages), on the scraping thread and
  // under the registry's mutex: it must be thread-safe, quick, must not touch the registry,
  // and must stay callable as long as the registry may be rendered. Throws if a series with
  // the same name and labels exists (a callback cannot be handed back).
  void gauge_callback(std::string_view name, std::string_view help, metrics::labels l,
                      std::function<double()> fn);

  // Prometheus text format 0.0.4: HELP and TYPE once per family, in registration order.
  std::string render_prometheus() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The content type to serve render_prometheus() with.
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4";

} // namespace iaposte::metrics
