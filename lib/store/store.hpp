// PostgreSQL persistence: migrations, request claims and the status history, batched
// (group commit) on worker threads of its own so that no Asio thread ever blocks on libpqxx.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.hpp"

namespace iaposte::store {

struct store_config {
  std::string url;             // libpq connection string or postgresql:// URI; never logged
  std::size_t batch_max = 512; // operations per transaction
  std::chrono::milliseconds retry_interval{500}; // between reconnect attempts when PG is down
  std::string owner;                             // this instance's id, written with claims
  std::chrono::seconds lease{600}; // how long a claim holds messages.lease_until (informative)
};

struct claim_request {
  std::string tenant, request_id, message_id, sender, subject;
  int recipients = 0;
  std::string source; // "topic/partition@offset", for operators
};

struct claim_result {
  enum class kind {
    fresh,    // first time seen: go ahead
    resumed,  // seen before, not terminal (a crash or a redelivery): go ahead
    terminal, // already ended: do not send again
  } kind = kind::fresh;
  std::string state;      // current state before this claim ("accepted", "sent", ...)
  int attempts = 0;       // SMTP attempts already recorded
  std::string message_id; // Message-ID stored by the first claim: reuse it when resuming
};

struct event_record {
  std::string tenant, request_id;
  core::status status = core::status::accepted;
  int attempt = 0;
  std::string message_id;
  std::optional<core::smtp_reply_info> smtp;
  std::string reason;
  std::optional<core::clock::time_point> next_attempt_at;
  core::clock::time_point at = core::clock::now();
};

struct message_row {
  std::string tenant, request_id, state, message_id;
  int attempts = 0;
  std::optional<int> last_code;
  std::string last_reply;
};

class store {
public:
  explicit store(store_config cfg);
  ~store(); // stops the workers
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // Connects and applies pending migrations (versioned SQL files compiled into the
  // binary) in one transaction each. Synchronous; throws std::runtime_error with a
  // readable reason (no password) when PG is unreachable or a migration fails.
  void migrate();

  // Starts the worker thread(s). Operations queued before start() wait.
  void start();
  // Finishes queued operations for at most `deadline`, then stops the workers.
  // Operations not done by then never complete (their offsets stay uncommitted).
  void stop(std::chrono::milliseconds deadline = std::chrono::milliseconds{5000});

  // Asynchronous, batched. `done` runs on a store thread: keep it short (post elsewhere).
  // While PG is down the operations wait and are retried; they are never dropped
  // before stop().
  void claim(claim_request req, std::function<void(claim_result)> done);
  // Upserts the messages row (created when missing, e.g. for rejected requests) and
  // appends a message_events row.
  void record(event_record ev, std::function<void()> done);

  // True while the last round trip to PG succeeded.
  bool healthy() const;

  // For metrics and tests.
  std::uint64_t transactions() const;        // batches committed (one transaction each)
  std::uint64_t connection_failures() const; // worker connections lost or refused
  std::size_t pending() const; // operations not completed yet: queued, in flight or parked
  // Operations that failed alone with a non-connection SQL error (a bug, a constraint):
  // they are logged and retried with backoff, never completed without being written,
  // and later operations on the same request wait behind them.
  std::size_t parked() const;

  // Synchronous look-ups on a connection of their own; for the CLI and tests.
  std::optional<message_row> find(const std::string& tenant, const std::string& request_id);
  std::vector<event_record> history(const std::string& tenant, const std::string& request_id);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Applied migration versions, ascending, as compiled in.
std::vector<std::string> migration_names();

} // namespace iaposte::store
