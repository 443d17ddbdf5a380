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
  // How long a claim holds the request (messages.lease_until): while it runs, a claim by
  // another instance answers busy. Taken (or renewed) by every fresh or resumed claim.
  std::chrono::seconds lease{600};
  // This instance's heartbeat (table instances), and how long an owner may go unseen
  // before its claims are taken over without waiting for their lease; 0: never.
  std::chrono::milliseconds heartbeat_interval{2000};
  std::chrono::milliseconds owner_dead_after{10000};
  // Bytes of content (claims' and records') per transaction (the batch statements carry it
  // as JSON): a batch is cut before the operation that would exceed it; a bigger one goes
  // alone.
  std::size_t batch_max_bytes = std::size_t{16} << 20;
};

struct claim_request {
  std::string tenant, request_id, message_id, sender, subject;
  int recipients = 0;
  std::string source; // "topic/partition@offset", for operators
  // The composed MIME message (CRLF text). Stored by the claim that takes the request when
  // the row holds none yet (first content wins); empty: store nothing. Text, like every
  // column: NUL bytes are dropped and invalid UTF-8 replaced (composed MIME is 7-bit).
  std::string content{};
  // What produced `content` (a JSON object, e.g. the AI provider that wrote it), stored and
  // given back with it; empty: nothing to record.
  std::string content_meta{};
  // A claim that inserts the row (fresh) also appends the `accepted` event to its history,
  // in the same statement, so that the caller need not record it.
  bool record_accepted = false;
};

struct claim_result {
  enum class kind {
    fresh,    // first time seen: go ahead
    resumed,  // seen before, not terminal (a crash or a redelivery): go ahead
    terminal, // already ended: do not send again
    busy,     // not terminal, and another instance holds a live lease: do not send
  } kind = kind::fresh;
  std::string state;      // current state before this claim ("accepted", "sent", ...)
  int attempts = 0;       // SMTP attempts already recorded
  std::string message_id; // Message-ID stored by the first claim: reuse it when resuming
  // fresh, resumed: the stored content after the claim (the first claim's, when one stored
  // any), to be sent as is. Empty for terminal and busy (nothing to send), or when no
  // claim ever passed content.
  std::string content{};
  // With `content`: what produced it (the JSON stored with it by the claim that stored it),
  // empty when nothing was recorded.
  std::string content_meta{};
  // When the row's lease ends: ours for fresh and resumed, the other instance's for busy;
  // usually none for terminal (a terminal record clears it).
  std::optional<core::clock::time_point> lease_until{};
  // terminal only: the terminal status event was acknowledged by the broker (recorded with
  // event_record::published). false: it may never have reached Kafka: publish it again,
  // then record it with `published`.
  bool published = false;
  // The recorded outcome (messages.last_code/last_enhanced/last_reply and reason), to
  // re-publish a terminal event; for other kinds, the last attempt's reply if any.
  std::optional<core::smtp_reply_info> last_smtp{};
  std::string reason{};
  // When the row last changed state (for a terminal row: when its outcome was recorded;
  // a claim that leaves the row to someone else does not touch it).
  std::optional<core::clock::time_point> updated_at{};
  // State `sending`, or terminal and not published: when its last history event happened
  // (the daemon's clock), to look for what was published since.
  std::optional<core::clock::time_point> last_event_at{};
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
  // A terminal event already acknowledged by the broker (the worker publishes first, then
  // records): the same write marks the row published (messages.published_at), so that a
  // later redelivery gets a `duplicate` event rather than this one again. Ignored unless
  // the row ends terminal; a later record that changes the row's state clears the mark.
  bool published = false;
  // The composed message, stored when the row holds none (as claim_request::content): the
  // worker passes it with the first record after which the request may be sent again (a
  // deferral), so that every later attempt sends the same bytes. Empty: nothing to store.
  std::string content{};
};

struct message_row {
  std::string tenant, request_id, state, message_id;
  int attempts = 0;
  std::optional<int> last_code;
  std::string last_reply;
  bool published = false; // its terminal event was recorded as published (terminal rows only)
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
  // appends the event to its history (messages.history, at most 64 events: the first and
  // the newest 63). The row's message_id is set once: the first claim or record with one.
  void record(event_record ev, std::function<void()> done);
  // Gives up this instance's lease (cfg.owner) on a request that is not terminal, so that
  // another instance can claim it at once. No-op for a terminal row, a row held by
  // another instance, or a missing row.
  void release(std::string tenant, std::string request_id, std::function<void()> done);
  // Operations on one request take effect in the order they were queued (a batch is cut
  // where running its statements in their fixed order would reorder them).

  // False while this instance's heartbeat has not been written for half of
  // owner_dead_after: the other instances may soon take its claims over, so it must not
  // start an attempt or write a final dot (the worker waits). True when liveness is off.
  bool leases_safe() const;

  // Heartbeats written so far (table instances), for tests.
  std::uint64_t heartbeats() const;

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
