// The asynchronous producer: batched (linger), idempotent, a delivery callback per record;
// topic creation and the reachability check (admin.cpp) go through its handle.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/message.hpp"

namespace iaposte::kafka {

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
  // string on broker acknowledgement or the error text. Copies key/payload. Never waits:
  // when librdkafka's local queue is full (the broker away for long), the record waits in
  // order in the producer's own list and the delivery thread queues it as room frees up.
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

} // namespace iaposte::kafka
