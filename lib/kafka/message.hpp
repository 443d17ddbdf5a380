// A consumed Kafka record, and the types the producer and the consumer share.
#pragma once

#include <cstdint>
#include <map>
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

} // namespace iaposte::kafka
