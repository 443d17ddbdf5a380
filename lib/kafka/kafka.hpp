// Kafka intake and output: a group consumer (cooperative-sticky rebalancing) with per-partition
// watermark offset storing and pause-based back-pressure, an asynchronous batched producer,
// and topic creation.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iaposte::kafka {

// librdkafka properties beyond the ones we set, e.g. {"security.protocol", "ssl"}.
using properties = std::map<std::string, std::string>;
using headers = std::vector<std::pair<std::string, std::string>>;

struct message {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  // The assignment epoch of the partition when the message was handed out (0: untracked),
  // echoed back in consumer::done(): a done() from an epoch that was revoked never stores
  // an offset, even when the partition has been assigned to this consumer again since.
  std::uint64_t generation = 0;
  std::string key;
  std::string payload;
  headers hdrs;
  std::int64_t timestamp_ms = 0; // the record's timestamp (producer create time), 0 if none
  // consumer::release_slot() was called for it: done() does not free its slot a second time.
  bool slot_released = false;

  // The value of header `name`, or nullptr.
  const std::string* header(std::string_view name) const;
};

// A message carrying this header (milliseconds since the Unix epoch, decimal) is not handed
// out before that time: the consumer pauses its partition, seeks back to it and resumes the
// partition when it is due. Retry topics are FIFO with a fixed delay, so the head of a
// partition is always the first one due.
inline constexpr std::string_view not_before_header = "iaposte-not-before";

struct producer_config {
  std::string brokers;
  std::chrono::milliseconds linger{5};
  std::chrono::milliseconds delivery_timeout{300000}; // librdkafka message.timeout.ms
  properties extra;
};

class producer {
public:
  explicit producer(producer_config cfg); // throws std::runtime_error on bad config
  ~producer();                            // flushes for at most 5 s
  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;

  // Queues one message; `done` runs on the producer's delivery thread with an empty
  // string on broker acknowledgement or the error text. Copies key/payload.
  void produce(const std::string& topic, std::string_view key, std::string_view payload,
               std::function<void(std::string error)> done, const headers& hdrs = {});

  // Waits until every queued message is acknowledged or failed; false on timeout.
  bool flush(std::chrono::milliseconds timeout);

  // Fetches cluster metadata; throws std::runtime_error("cannot reach Kafka at ...") on timeout.
  void check_reachable(std::chrono::milliseconds timeout);

  // Creates the topics that do not exist yet (already existing ones are fine).
  void ensure_topics(const std::vector<std::string>& topics, int partitions,
                     std::chrono::milliseconds timeout);

  std::size_t queued() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

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

// Looks a topic over for messages by key, from a point in time to the end: for recovery
// paths only (is the terminal event of this request already on the status topic?). Reads
// every partition from the first offset at or after `since` up to the end as it was when
// the search began; searches queued meanwhile are answered by one scan. Its own thread and
// its own consumer (assigned partitions, no group, no commits).
class key_finder {
public:
  // `match` decides whether a message with the key counts (e.g. its status).
  using match_fn = std::function<bool(std::string_view payload)>;
  // The first matching message's payload (none: not found), and an error text (empty when
  // the scan completed).
  using done_fn = std::function<void(std::optional<std::string> found, std::string error)>;

  key_finder(std::string brokers, std::string topic, properties extra = {});
  ~key_finder(); // answers the searches still queued with an error
  key_finder(const key_finder&) = delete;
  key_finder& operator=(const key_finder&) = delete;

  // `done` runs on the finder's thread.
  void find(std::string key, std::chrono::system_clock::time_point since, match_fn match,
            done_fn done);

  std::uint64_t scans() const; // completed scans, for tests

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace iaposte::kafka
