// The protocol of iaposte's own Kafka records beyond the request and status JSON: the retry
// topics (a fixed delay each, FIFO) and the dead-letter queue. Header names, the "where it
// was consumed" strings and the time headers are written here once; the worker builds and
// reads them, the consumer honours not_before_header, operators read them on the DLQ
// (docs/request-format.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/message.hpp"

namespace iaposte::kafka {

using time_point = std::chrono::system_clock::time_point;

// ---- headers: every value is text; the times are milliseconds since the Unix epoch, decimal.
// A record carrying it is not handed out before that time: the consumer pauses its
// partition, seeks back to it and resumes the partition when it is due.
inline constexpr std::string_view not_before_header = "iaposte-not-before";
// On a retry topic: when the request is wanted (its next attempt or its send_at).
inline constexpr std::string_view due_header = "iaposte-due";
// On a retry topic: when the request was first produced (its lifetime counts from there).
inline constexpr std::string_view first_seen_header = "iaposte-first-seen";
// Where the record was consumed from, "topic/partition@offset" (source_of).
inline constexpr std::string_view source_header = "iaposte-source";
// On the DLQ: why, the terminal status, and the last SMTP reply ("550 5.1.1 text").
inline constexpr std::string_view reason_header = "iaposte-reason";
inline constexpr std::string_view status_header = "iaposte-status";
inline constexpr std::string_view last_reply_header = "iaposte-last-reply";
// On the DLQ for a rejected record: where it was consumed, one field each.
inline constexpr std::string_view source_topic_header = "iaposte-source-topic";
inline constexpr std::string_view source_partition_header = "iaposte-source-partition";
inline constexpr std::string_view source_offset_header = "iaposte-source-offset";

// A retry topic: a request handed to it is consumed again `delay` after it was produced.
struct retry_tier {
  std::string topic;
  std::chrono::milliseconds delay{0};
};

// The default tiers (retry.tiers).
std::vector<retry_tier> default_retry_tiers();

// The tier for a wait of `remaining`: the one with the longest delay not above it, when the
// wait is longer than `in_process_max`; nullptr when the wait is done in-process. `tiers`
// in ascending delays.
const retry_tier* tier_for(const std::vector<retry_tier>& tiers,
                           std::chrono::milliseconds remaining,
                           std::chrono::milliseconds in_process_max);

std::int64_t epoch_ms(time_point t);
// A decimal count of milliseconds since the epoch; nullopt unless the whole text is one.
std::optional<std::int64_t> parse_epoch_ms(std::string_view text);
// A time header of `m`; nullopt when missing or malformed.
std::optional<time_point> header_time(const message& m, std::string_view name);

// "topic/partition@offset".
std::string source_of(const message& m);
// The key of a record whose request_id cannot be read: "kafka:topic:partition:offset".
std::string unkeyed_id(const message& m);

// The headers of a request handed to a retry topic at `now`: not before now + tier delay,
// wanted at `due`, first produced at `first_seen`, consumed from `m`.
headers retry_headers(const message& m, const retry_tier& tier, time_point now, time_point due,
                      time_point first_seen);

// The DLQ copy of a request that ended `status` (failed, bounced...) with `reason` and, when
// there is one, the last SMTP reply as one line.
headers dlq_headers(const message& m, std::string_view status, std::string reason,
                    std::optional<std::string> last_reply);

// The DLQ copy of a rejected record: the reason and where it was consumed, field by field.
headers rejected_headers(const message& m, std::string reason);

} // namespace iaposte::kafka
