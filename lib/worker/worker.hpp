// The life of one request: intake → validate → render → claim → compose → deliver with
// retries → record + publish → commit. One coroutine per request on the daemon's executor.
// Every record handed in ends: with its terminal status event, or (when it cannot be read
// as a request) a rejected event and a DLQ copy, or after repeated internal errors `failed`
// with a DLQ copy; only a stop leaves a record for redelivery.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "core/backoff.hpp"
#include "core/request.hpp"
#include "kafka/kafka.hpp"

namespace iaposte::smtp {
class dispatcher;
}
namespace iaposte::ai {
class client;
}
namespace iaposte::store {
class store;
class content_lookup;
} // namespace iaposte::store
namespace iaposte::content {
class stage;
}

namespace iaposte::worker {

struct worker_config {
  std::string status_topic = "iaposte.status";
  std::string dlq_topic = "iaposte.dlq";
  core::limits limits;
  core::backoff_config backoff;
  std::string message_id_domain; // empty: the sender's domain
  // Waits (backoff, send_at) up to this long are done in-process; longer ones hand the
  // request to the retry topic with the longest delay not above the wait (hop after hop).
  std::chrono::milliseconds in_process_max{60000};
  std::vector<kafka::retry_tier> retry_tiers; // ascending delays; empty: all in-process
  // A request ends `failed` once this long has passed since it was first produced, or at
  // its expires_at if earlier; no attempt starts after that.
  std::chrono::milliseconds lifetime{std::chrono::hours(24 * 5)};
  // At most once across crashes: each attempt is recorded `sending` in PostgreSQL before its
  // final dot (the record starts with the SMTP transaction, the dot waits for its commit),
  // and a request found `sending` after a crash is reported sent (unconfirmed) rather than
  // sent again. false: at least once (resent; the receiver may get two copies).
  bool confirm_before_dot = true;
  // Publish `accepted` when a request is first claimed (its history records it either way).
  bool publish_accepted = true;
  // The `sending` record's commit, counted from the transaction's start: later, no dot.
  std::chrono::milliseconds confirm_timeout{10000};
  // Tenants whose AI-written messages with a negative tone are held back (`rejected` with
  // the reason) instead of only marked; "*": every tenant.
  std::set<std::string> hold_negative_tenants;
  // Requests waiting for the AI chain that give their place under the consumer's
  // max_in_flight back (release_slot), so that a slow model cannot fill it and starve the
  // requests without AI; beyond this many, an AI request keeps its place. The memory bound
  // is then max_in_flight + ai_max_waiting requests.
  std::size_t ai_max_waiting = 1000;
  // Requests that wait on something other than their own work (another instance's live
  // lease after a rebalance, a retry after an internal error) give their place under
  // max_in_flight back while they wait, up to this many, so that they never stop the
  // requests behind them.
  std::size_t max_parked = 1000;
  // A request whose handling throws (a bug, not an input problem) is tried again through
  // the backoff, giving its place back meanwhile; after this many failures it ends
  // `failed` ("internal error: ...") with a copy on the DLQ.
  int internal_error_attempts = 3;
  // Threads for the content stage's CPU work (rendering, DKIM signing).
  std::size_t content_threads = 2;
};

struct counters {
  std::size_t received = 0, sent = 0, deferred = 0, bounced = 0, failed = 0, rejected = 0,
              duplicate = 0, suppressed = 0;
  std::size_t handed_off = 0;  // waits handed to a retry topic
  std::size_t republished = 0; // terminal events published again after a crash
  std::size_t unconfirmed = 0; // found `sending` after a crash: reported sent, not resent
  std::size_t dot_holds = 0;   // final dots held for the attempt's `sending` record (at_most_once)
  std::size_t dot_hold_us = 0; // their total wait for its commit, µs (0 when committed before)
  std::size_t smtp_no_reply_streak = 0; // attempts in a row that got no SMTP reply at all
  std::size_t ai_detached = 0;          // now: AI requests that gave their consumer slot back
  std::size_t parked = 0;          // now: requests waiting on another instance's lease or a retry
  std::size_t internal_errors = 0; // handlings that threw (each retried or failed)
};

class worker {
public:
  // `finished` is called (on the executor) once a request's outcome is durable:
  // recorded in PostgreSQL and acknowledged by the broker. The caller commits its offset.
  // `release_slot` (optional) gives a request's consumer slot back while it stays pending
  // (kafka::consumer::release_slot), for AI requests (worker_config::ai_max_waiting).
  // `status_finder` (optional) reads the status topic back: a request whose terminal event
  // may or may not have reached the broker before a crash is republished only when the
  // topic does not have it already.
  // `stage` composes and signs (lib/content); `lookup` (optional) answers what the store
  // holds for a request: template, contacts, signature, suppressions (no lookup: inline
  // content only, nothing suppressed).
  worker(boost::asio::any_io_executor ex, worker_config cfg, kafka::producer& producer,
         store::store& store, smtp::dispatcher& smtp, content::stage& stage,
         std::function<void(const kafka::message&)> finished,
         store::content_lookup* lookup = nullptr, kafka::key_finder* status_finder = nullptr,
         ai::client* ai_client = nullptr, std::function<void(kafka::message&)> release_slot = {});
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Starts handling one message; thread-safe (posts to the executor).
  void submit(kafka::message m);

  // Stops retry waits (their requests stay uncommitted and are redelivered later), then
  // waits up to `deadline` for the requests in flight to finish.
  boost::asio::awaitable<void> drain(std::chrono::milliseconds deadline);

  std::size_t active() const;
  counters stats() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace iaposte::worker
