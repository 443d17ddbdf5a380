// The group consumer: cooperative-sticky rebalancing, per-partition watermark offsets stored
// through done(), pause-based back-pressure, and records held until their not-before time
// (kafka/protocol.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kafka/message.hpp"

namespace iaposte::kafka {

struct consumer_config {
  std::string brokers;
  std::string group_id;
  std::vector<std::string> topics;
  // Daemon mode: offsets are stored only through done() (watermark) and committed
  // in the background every commit_interval; never automatically on delivery.
  bool manual_offsets = true;
  std::string offset_reset = "earliest";
  std::size_t max_in_flight = 1000; // stop fetching at this many undone messages
  std::chrono::milliseconds commit_interval{1000};
  properties extra;
  // Full for this long: pause the assignment (and keep polling) until 3/4 of it is done.
  std::chrono::milliseconds pause_after{1000};
  // Daemon mode, on a revoke (another member joined or left): how long the rebalance waits
  // for the revoked partitions' messages in flight to be done() before it commits their
  // watermark and lets them go. What is still in flight then is redelivered to the new
  // owner (whose PostgreSQL claim stops a second send). Keep it well below
  // max.poll.interval.ms (300 s by default): the poll thread is blocked meanwhile.
  std::chrono::milliseconds revoke_timeout{10000};
};

class consumer {
public:
  explicit consumer(consumer_config cfg); // throws std::runtime_error on bad config
  ~consumer();
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  // Starts the poll thread; `on_message` runs on it for each message (keep it short:
  // hand the message to another executor).
  void start(std::function<void(message)> on_message);

  // Polls once on the caller's thread (for tools that do not want a thread).
  // Returns false on timeout (or an error, which is logged).
  bool poll_one(message& out, std::chrono::milliseconds timeout);

  // The message is finished (its outcome is durable): the partition's stored offset
  // advances to the lowest offset still in flight (or last done + 1). Thread-safe. A
  // message of a partition revoked since it was handed out only leaves the in-flight count.
  void done(const message& m);
  // Frees `m`'s place under max_in_flight while it stays pending (its offset still holds the
  // partition's watermark until done()), for a request parked on a slow dependency; the
  // caller bounds how many it parks. Once per message; thread-safe.
  void release_slot(message& m);

  // Stops delivering new messages to on_message (messages fetched later are dropped
  // from memory and will be redelivered after a restart).
  void stop_intake();

  // Stops the poll thread, commits the stored offsets and leaves the group. Call it after
  // the drain: the final revoke does not wait for messages still in flight.
  void close();

  std::size_t in_flight() const;
  bool paused() const;
  // Partitions held back because their next message is not due yet (not_before_header).
  std::size_t held() const;
  // How many times the group evicted this member for not polling within
  // max.poll.interval.ms (each one logged as kafka.evicted).
  std::size_t evictions() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace iaposte::kafka
