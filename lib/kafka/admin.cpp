// Admin calls over a client's handle: the reachability check and topic creation.
#include <librdkafka/rdkafka.h>

#include <stdexcept>

#include "kafka/detail.hpp"

namespace iaposte::kafka::detail {

void check_reachable(RdKafka::Handle& h, std::chrono::milliseconds timeout) {
  RdKafka::Metadata* md = nullptr;
  auto err = h.metadata(true, nullptr, &md, static_cast<int>(timeout.count()));
  delete md;
  if (err != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("cannot reach Kafka: " + RdKafka::err2str(err));
}

void create_topics(RdKafka::Handle& h, const std::vector<std::string>& topics, int partitions,
                   std::chrono::milliseconds timeout) {
  if (topics.empty()) return;
  rd_kafka_t* rk = h.c_ptr();
  char errstr[512];
  std::vector<rd_kafka_NewTopic_t*> news;
  for (const auto& t : topics) {
    auto* nt = rd_kafka_NewTopic_new(t.c_str(), partitions, 1, errstr, sizeof errstr);
    if (!nt) {
      for (auto* n : news)
        rd_kafka_NewTopic_destroy(n);
      throw std::runtime_error("topic " + t + ": " + errstr);
    }
    news.push_back(nt);
  }
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, static_cast<int>(timeout.count()), errstr,
                                              sizeof errstr);
  rd_kafka_CreateTopics(rk, news.data(), news.size(), opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(timeout.count()) + 1000);
  std::string failure;
  if (!ev) {
    failure = "timed out creating topics";
  } else if (rd_kafka_event_error(ev)) {
    failure = rd_kafka_event_error_string(ev);
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; ++i) {
      auto code = rd_kafka_topic_result_error(results[i]);
      if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        failure += std::string(rd_kafka_topic_result_name(results[i])) + ": " +
                   rd_kafka_err2str(code) + "; ";
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
  for (auto* n : news)
    rd_kafka_NewTopic_destroy(n);
  if (!failure.empty()) throw std::runtime_error("cannot create Kafka topics: " + failure);
}

} // namespace iaposte::kafka::detail
