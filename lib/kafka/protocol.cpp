// Retry topics and the DLQ: header names, sources and times (protocol.hpp).
#include "kafka/protocol.hpp"

#include <charconv>

namespace iaposte::kafka {

std::vector<retry_tier> default_retry_tiers() {
  std::vector<retry_tier> tiers;
  tiers.push_back({"iaposte.retry.1m", std::chrono::minutes(1)});
  tiers.push_back({"iaposte.retry.10m", std::chrono::minutes(10)});
  tiers.push_back({"iaposte.retry.1h", std::chrono::hours(1)});
  return tiers;
}

const retry_tier* tier_for(const std::vector<retry_tier>& tiers,
                           std::chrono::milliseconds remaining,
                           std::chrono::milliseconds in_process_max) {
  const retry_tier* tier = nullptr;
  if (remaining <= in_process_max) return tier;
  for (const auto& t : tiers)
    if (t.delay <= remaining) tier = &t;
  return tier;
}

std::int64_t epoch_ms(time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::optional<std::int64_t> parse_epoch_ms(std::string_view text) {
  std::int64_t ms = 0;
  const char* end = text.data() + text.size();
  auto [at, ec] = std::from_chars(text.data(), end, ms);
  if (text.empty() || ec != std::errc{} || at != end) return std::nullopt;
  return ms;
}

std::optional<time_point> header_time(const message& m, std::string_view name) {
  const std::string* v = m.header(name);
  if (!v) return std::nullopt;
  auto ms = parse_epoch_ms(*v);
  if (!ms) return std::nullopt;
  return time_point(std::chrono::milliseconds(*ms));
}

std::string source_of(const message& m) {
  return m.topic + "/" + std::to_string(m.partition) + "@" + std::to_string(m.offset);
}

std::string unkeyed_id(const message& m) {
  return "kafka:" + m.topic + ":" + std::to_string(m.partition) + ":" + std::to_string(m.offset);
}

namespace {
void add(headers& h, std::string_view name, std::string value) {
  h.emplace_back(std::string(name), std::move(value));
}
} // namespace

headers retry_headers(const message& m, const retry_tier& tier, time_point now, time_point due,
                      time_point first_seen) {
  headers h;
  h.reserve(4);
  add(h, not_before_header, std::to_string(epoch_ms(now + tier.delay)));
  add(h, due_header, std::to_string(epoch_ms(due)));
  add(h, first_seen_header, std::to_string(epoch_ms(first_seen)));
  add(h, source_header, source_of(m));
  return h;
}

headers dlq_headers(const message& m, std::string_view status, std::string reason,
                    std::optional<std::string> last_reply) {
  headers h;
  h.reserve(4);
  add(h, reason_header, std::move(reason));
  add(h, status_header, std::string(status));
  add(h, source_header, source_of(m));
  if (last_reply) add(h, last_reply_header, std::move(*last_reply));
  return h;
}

headers rejected_headers(const message& m, std::string reason) {
  headers h;
  h.reserve(4);
  add(h, reason_header, std::move(reason));
  add(h, source_topic_header, m.topic);
  add(h, source_partition_header, std::to_string(m.partition));
  add(h, source_offset_header, std::to_string(m.offset));
  return h;
}

} // namespace iaposte::kafka
