// PostgreSQL for the AI client (internal): ai_cache and style_profiles, on a thread of their
// own (libpqxx is synchronous; no Asio thread ever waits on it).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <pqxx/connection>

#include "ai/style.hpp"

namespace iaposte::ai::detail {

class pg_worker {
public:
  explicit pg_worker(std::string url);
  ~pg_worker(); // jobs still queued run for up to 2 s, then with a null connection
  pg_worker(const pg_worker&) = delete;
  pg_worker& operator=(const pg_worker&) = delete;

  // Callbacks run on the worker thread. While PostgreSQL is down (or the queue is full)
  // they run at once with "nothing": a cache miss, no profile. Never throw.
  void cache_get(std::string key, std::function<void(std::optional<std::string>)> done);
  void cache_put(std::string key, std::string value_json, std::chrono::seconds ttl);
  void style_get(std::string tenant, std::string sender,
                 std::function<void(std::optional<style_profile>)> done);

private:
  using job = std::function<void(pqxx::connection*)>;
  void submit(job j);
  void run();
  pqxx::connection* connection();

  std::string url_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<job> queue_;
  bool stopping_ = false;
  // Once stopping: the queue is still run (cache writes are not lost at a clean stop) until
  // this time; what is left then gets no connection.
  std::chrono::steady_clock::time_point drain_until_{};
  std::unique_ptr<pqxx::connection> conn_;
  std::chrono::steady_clock::time_point retry_at_{};
  std::size_t puts_ = 0;
  std::thread thread_; // last: started once the rest is ready
};

} // namespace iaposte::ai::detail
