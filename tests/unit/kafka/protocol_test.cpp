// The retry-topic and DLQ protocol (lib/kafka/protocol.hpp): the header names and values the
// worker writes and reads, the tier chosen for a wait, the sources, the time headers.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "kafka/protocol.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_kafka_protocol_test {

using namespace iaposte;
using namespace std::chrono_literals;

kafka::message consumed(std::string topic, std::int32_t partition, std::int64_t offset) {
  kafka::message m;
  m.topic = std::move(topic);
  m.partition = partition;
  m.offset = offset;
  return m;
}

std::string value(const kafka::headers& h, std::string_view name) {
  for (const auto& [k, v] : h)
    if (k == name) return v;
  return "<missing>";
}

TEST_CASE("the header names are the ones operators and the docs know") {
  CHECK(kafka::not_before_header == "iaposte-not-before");
  CHECK(kafka::due_header == "iaposte-due");
  CHECK(kafka::first_seen_header == "iaposte-first-seen");
  CHECK(kafka::source_header == "iaposte-source");
  CHECK(kafka::reason_header == "iaposte-reason");
  CHECK(kafka::status_header == "iaposte-status");
  CHECK(kafka::last_reply_header == "iaposte-last-reply");
}

TEST_CASE("sources and unkeyed ids name where a record was consumed") {
  const auto m = consumed("iaposte.requests", 3, 1234);
  CHECK(kafka::source_of(m) == "iaposte.requests/3@1234");
  CHECK(kafka::unkeyed_id(m) == "kafka:iaposte.requests:3:1234");
}

TEST_CASE("epoch milliseconds: the whole text is one decimal number, or nothing") {
  CHECK(kafka::parse_epoch_ms("1700000000123") == 1700000000123);
  CHECK(kafka::parse_epoch_ms("0") == 0);
  CHECK_FALSE(kafka::parse_epoch_ms(""));
  CHECK_FALSE(kafka::parse_epoch_ms("12x"));
  CHECK_FALSE(kafka::parse_epoch_ms(" 12"));
  CHECK_FALSE(kafka::parse_epoch_ms("99999999999999999999999")); // out of range
  const kafka::time_point t{std::chrono::milliseconds(1700000000123)};
  CHECK(kafka::epoch_ms(t) == 1700000000123);
}

TEST_CASE("a time header reads back what retry_headers wrote; a malformed one is absent") {
  auto m = consumed("iaposte.requests", 0, 7);
  const kafka::time_point now{std::chrono::milliseconds(1'700'000'000'000)};
  const kafka::retry_tier tier{"iaposte.retry.10m", 10min};
  const auto due = now + 12min;
  const auto first = now - 1h;
  m.hdrs = kafka::retry_headers(m, tier, now, due, first);
  REQUIRE(m.hdrs.size() == 4);
  CHECK(kafka::header_time(m, kafka::not_before_header) == now + 10min);
  CHECK(kafka::header_time(m, kafka::due_header) == due);
  CHECK(kafka::header_time(m, kafka::first_seen_header) == first);
  CHECK(*m.header(kafka::source_header) == "iaposte.requests/0@7");

  m.hdrs = {{std::string(kafka::due_header), "soon"}};
  CHECK_FALSE(kafka::header_time(m, kafka::due_header));
  CHECK_FALSE(kafka::header_time(m, kafka::first_seen_header));
}

TEST_CASE("the DLQ copy of a request that gave up, and of a rejected record") {
  const auto m = consumed("iaposte.retry.1m", 1, 42);
  auto h = kafka::dlq_headers(m, "failed", "gave up after 8 attempts",
                              std::string("451 4.3.0 try later"));
  CHECK(value(h, kafka::reason_header) == "gave up after 8 attempts");
  CHECK(value(h, kafka::status_header) == "failed");
  CHECK(value(h, kafka::source_header) == "iaposte.retry.1m/1@42");
  CHECK(value(h, kafka::last_reply_header) == "451 4.3.0 try later");
  h = kafka::dlq_headers(m, "failed", "internal error: x", std::nullopt);
  CHECK(value(h, kafka::last_reply_header) == "<missing>");

  h = kafka::rejected_headers(consumed("iaposte.requests", 2, 9), "not JSON");
  CHECK(value(h, kafka::reason_header) == "not JSON");
  CHECK(value(h, kafka::source_topic_header) == "iaposte.requests");
  CHECK(value(h, kafka::source_partition_header) == "2");
  CHECK(value(h, kafka::source_offset_header) == "9");
}

TEST_CASE("a wait goes to the tier with the longest delay not above it, past in_process_max") {
  const auto tiers = kafka::default_retry_tiers();
  REQUIRE(tiers.size() == 3);
  CHECK(tiers[0].delay < tiers[1].delay);
  CHECK(tiers[1].delay < tiers[2].delay);
  struct row {
    std::chrono::milliseconds wait;
    const char* topic; // nullptr: in-process
  };
  const std::vector<row> table{
      {30s, nullptr},               // under in_process_max
      {60s, nullptr},               // equal: still in-process
      {61s, "iaposte.retry.1m"},    // past it, one tier fits
      {9min, "iaposte.retry.1m"},   // the 10 minutes one would overshoot
      {10min, "iaposte.retry.10m"}, // exactly a tier's delay
      {59min, "iaposte.retry.10m"}, //
      {5h, "iaposte.retry.1h"},     // the longest, hop after hop
  };
  for (const auto& r : table) {
    CAPTURE(r.wait.count());
    const auto* t = kafka::tier_for(tiers, r.wait, 60s);
    if (!r.topic) {
      CHECK(t == nullptr);
    } else {
      REQUIRE(t != nullptr);
      CHECK(t->topic == r.topic);
    }
  }
  // A short wait past in_process_max that no tier fits stays in-process.
  CHECK(kafka::tier_for(tiers, 50s, 10s) == nullptr);
  CHECK(kafka::tier_for({}, 5h, 60s) == nullptr);
}

} // namespace test_unit_kafka_protocol_test
