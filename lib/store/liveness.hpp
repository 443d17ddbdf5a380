// This instance's heartbeat in PostgreSQL, and the owners that stopped beating: on a thread
// and connection of their own, so that a long queue of claims never delays a heartbeat
// (a live but busy instance keeps its leases).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/connection>

namespace iaposte::store::detail {

struct liveness_config {
  std::string url, owner;
  std::chrono::milliseconds interval{2000};
  std::chrono::milliseconds dead_after{10000}; // 0: never take a live lease over
};

class liveness {
public:
  explicit liveness(liveness_config cfg);
  ~liveness(); // stop()
  liveness(const liveness&) = delete;
  liveness& operator=(const liveness&) = delete;

  void start();
  // Stops beating. `clean`: the instance has handed its work back, so its row is marked
  // dead at once and whatever it still holds is taken over without waiting.
  void stop(bool clean);

  // Owners (other than this instance) not seen for dead_after, as a JSON array text for
  // the claim statement; "[]" until the first look-up.
  std::string dead_owners() const;
  std::uint64_t beats() const; // heartbeats written, for tests
  // False once this instance's last heartbeat is older than half of dead_after: the others
  // may soon take its claims over, so it must not start sending what it holds (self-fence).
  // True when liveness is off.
  bool fresh() const;

private:
  void run();
  bool beat(); // one heartbeat and one look-up; false when PostgreSQL failed

  liveness_config cfg_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::string dead_ = "[]";
  std::uint64_t beats_ = 0;
  // steady_clock ticks of the last heartbeat written (start() counts as one).
  std::atomic<std::chrono::steady_clock::rep> last_ok_{0};
  std::unique_ptr<pqxx::connection> conn_; // the thread's, then stop()'s
  bool failing_ = false;                   // the thread's
  std::thread thread_;
};

} // namespace iaposte::store::detail
