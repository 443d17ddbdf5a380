// What the producer, the consumer, the admin calls and the finder share over librdkafka:
// configuration and the log of client events. Internal to lib/kafka.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kafka/message.hpp"

namespace iaposte::kafka::detail {

// A global configuration with the brokers, the client id, keepalive and `extra`.
std::unique_ptr<RdKafka::Conf> make_conf(const std::string& brokers, const properties& extra);
void set_or_throw(RdKafka::Conf& conf, const std::string& k, const std::string& v);

// Broker and client errors, as log events; librdkafka retries by itself.
class event_logger final : public RdKafka::EventCb {
public:
  explicit event_logger(std::string role) : role_(std::move(role)) {}
  void event_cb(RdKafka::Event& e) override;

private:
  std::string role_;
};

// admin.cpp, through a client's handle.
void check_reachable(RdKafka::Handle& h, std::chrono::milliseconds timeout);
void create_topics(RdKafka::Handle& h, const std::vector<std::string>& topics, int partitions,
                   std::chrono::milliseconds timeout);

} // namespace iaposte::kafka::detail
