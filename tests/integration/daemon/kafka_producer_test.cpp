// lib/kafka's producer against the real broker: a full local queue never makes produce()
// wait on its caller's thread (an Asio thread in the daemon), and loses or reorders nothing.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "kafka/kafka.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_daemon_kafka_producer_test {

using namespace iaposte::testing;
namespace kafka = iaposte::kafka;

TEST_CASE("a full local queue: produce() returns at once, records wait in order, all delivered") {
  const std::string topic = unique("producer-full");
  constexpr int n = 300;
  std::mutex mu;
  std::vector<std::string> errors;
  std::atomic<int> acked{0};
  {
    // Room for 5 records in librdkafka's queue: the other 295 wait in the producer's list.
    kafka::producer p({stack_value("KAFKA_BROKERS"),
                       std::chrono::milliseconds(20),
                       std::chrono::milliseconds(60000),
                       {{"queue.buffering.max.messages", "5"}}});
    p.ensure_topics({topic}, 1, std::chrono::seconds(10));
    for (int i = 0; i < n; ++i)
      p.produce(topic, "one-key", std::to_string(i), [&](std::string error) {
        if (!error.empty()) {
          std::lock_guard lock(mu);
          errors.push_back(std::move(error));
        }
        ++acked;
      });
    // Nothing waited for room: the records are all still queued here (the old producer slept
    // 10 ms at a time until librdkafka had room, so at most 5 were queued when it returned).
    // queued() also counts librdkafka's own requests in flight, hence at least.
    CHECK(p.queued() + static_cast<std::size_t>(acked.load()) >= n);
    CHECK(p.flush(std::chrono::seconds(30)));
    CHECK(p.queued() == 0);
  }
  CHECK(acked.load() == n);
  CHECK(errors.empty());

  // One key, one partition: read back in the order produced.
  topic_reader reader(topic);
  const auto& seen = reader.until([](const auto& s) { return s.size() >= n; }, 30s);
  REQUIRE(seen.size() == n);
  for (int i = 0; i < n; ++i)
    CHECK(seen[static_cast<std::size_t>(i)].payload == std::to_string(i));
}

TEST_CASE("records still waiting when the producer closes are failed, not forgotten") {
  std::atomic<int> failed{0}, acked{0};
  {
    // Nothing listens there: the records never leave, the queue stays full.
    kafka::producer p({"127.0.0.1:1",
                       std::chrono::milliseconds(5),
                       std::chrono::milliseconds(60000),
                       {{"queue.buffering.max.messages", "2"}}});
    for (int i = 0; i < 10; ++i)
      p.produce("nowhere", "k", "x", [&](std::string error) {
        if (!error.empty()) ++failed;
        ++acked;
      });
    CHECK(p.queued() >= 10); // and librdkafka's own requests
    CHECK_FALSE(p.flush(std::chrono::milliseconds(200)));
  } // the destructor fails what is left
  CHECK(acked.load() == 10);
  CHECK(failed.load() == 10);
}

} // namespace test_integration_daemon_kafka_producer_test
