// The asynchronous producer: idempotent, batched by linger, a delivery callback per record.
#include "kafka/producer.hpp"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "kafka/detail.hpp"

namespace iaposte::kafka {

using detail::make_conf;
using detail::set_or_throw;

namespace {

using delivery_fn = std::function<void(std::string)>;

class delivery_reporter final : public RdKafka::DeliveryReportCb {
public:
  void dr_cb(RdKafka::Message& m) override {
    std::unique_ptr<delivery_fn> done(static_cast<delivery_fn*>(m.msg_opaque()));
    if (!done) return;
    (*done)(m.err() == RdKafka::ERR_NO_ERROR ? std::string{} : m.errstr());
  }
};

} // namespace

// ---------------------------------------------------------------- producer

// A record the local queue had no room for (the broker away for long): kept in order and
// queued by the poll thread as room frees up, so that produce() never waits on its caller's
// thread, an Asio one in the daemon.
struct pending {
  std::string topic;
  std::string key;
  std::string payload;
  RdKafka::Headers* hdrs = nullptr; // owned until queued
  std::unique_ptr<delivery_fn> done;
};

struct producer::impl {
  detail::event_logger events{"producer"};
  delivery_reporter reports;
  std::unique_ptr<RdKafka::Producer> handle;
  std::atomic<bool> stopping{false};
  std::thread poller;
  mutable std::mutex mu;
  std::deque<pending> overflow; // guarded by mu; while it is not empty, new records join it

  RdKafka::ErrorCode queue(const std::string& topic, std::string_view key, std::string_view payload,
                           RdKafka::Headers* h, delivery_fn* done) {
    return handle->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                           const_cast<char*>(payload.data()), payload.size(), key.data(),
                           key.size(), 0, h, done);
  }

  // Queues what waits, in order, until the local queue is full again; fails the records
  // librdkafka refuses for another reason. The callbacks run outside the lock.
  void drain() {
    std::vector<pending> refused;
    std::vector<std::string> errors;
    {
      std::lock_guard lock(mu);
      while (!overflow.empty()) {
        pending& p = overflow.front();
        auto err = queue(p.topic, p.key, p.payload, p.hdrs, p.done.get());
        if (err == RdKafka::ERR__QUEUE_FULL) break;
        if (err == RdKafka::ERR_NO_ERROR) {
          p.done.release(); // owned by the delivery report now, as are the headers
        } else {
          delete p.hdrs;
          errors.push_back(RdKafka::err2str(err));
          refused.push_back(std::move(p));
        }
        overflow.pop_front();
      }
    }
    for (std::size_t i = 0; i < refused.size(); ++i)
      (*refused[i].done)(std::move(errors[i]));
  }

  std::size_t waiting() const {
    std::lock_guard lock(mu);
    return overflow.size();
  }
};

producer::producer(producer_config cfg) : impl_(std::make_unique<impl>()) {
  auto conf = make_conf(cfg.brokers, {});
  set_or_throw(*conf, "enable.idempotence", "true");
  set_or_throw(*conf, "linger.ms", std::to_string(cfg.linger.count()));
  set_or_throw(*conf, "message.timeout.ms", std::to_string(cfg.delivery_timeout.count()));
  set_or_throw(*conf, "queue.buffering.max.messages", "1000000");
  for (const auto& [k, v] : cfg.extra)
    set_or_throw(*conf, k, v);
  std::string err;
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&impl_->events), err) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&impl_->reports), err) !=
          RdKafka::Conf::CONF_OK)
    throw std::runtime_error("kafka producer callbacks: " + err);
  impl_->handle.reset(RdKafka::Producer::create(conf.get(), err));
  if (!impl_->handle) throw std::runtime_error("kafka producer: " + err);
  impl_->poller = std::thread([p = impl_.get()] {
    while (!p->stopping.load(std::memory_order_relaxed)) {
      p->handle->poll(50);
      p->drain();
    }
  });
}

producer::~producer() {
  flush(std::chrono::milliseconds{5000});
  impl_->stopping = true;
  impl_->poller.join();
  // Callbacks still pending are failed so that their owners are not left waiting.
  impl_->handle->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  impl_->handle->poll(0);
  std::deque<pending> left;
  {
    std::lock_guard lock(impl_->mu);
    left.swap(impl_->overflow);
  }
  for (auto& p : left) {
    delete p.hdrs;
    (*p.done)("producer closed before the record could be queued");
  }
}

void producer::produce(const std::string& topic, std::string_view key, std::string_view payload,
                       std::function<void(std::string)> done, const headers& hdrs) {
  auto opaque = std::make_unique<delivery_fn>(std::move(done));
  RdKafka::Headers* h = nullptr;
  if (!hdrs.empty()) {
    h = RdKafka::Headers::create();
    for (const auto& [k, v] : hdrs)
      h->add(k, v.data(), v.size());
  }
  RdKafka::ErrorCode err = RdKafka::ERR__QUEUE_FULL;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->overflow.empty()) err = impl_->queue(topic, key, payload, h, opaque.get());
    if (err == RdKafka::ERR_NO_ERROR) {
      opaque.release(); // owned by the delivery report now, as are the headers
      return;
    }
    if (err == RdKafka::ERR__QUEUE_FULL) {
      impl_->overflow.push_back(
          {topic, std::string(key), std::string(payload), h, std::move(opaque)});
      return;
    }
  }
  delete h;
  (*opaque)(RdKafka::err2str(err));
}

bool producer::flush(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (impl_->waiting() > 0) { // the poll thread queues them as room frees up
    if (std::chrono::steady_clock::now() >= until) return false;
    impl_->handle->flush(50);
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
  return impl_->handle->flush(static_cast<int>(std::max<std::int64_t>(left.count(), 0))) ==
         RdKafka::ERR_NO_ERROR;
}

std::size_t producer::queued() const {
  return static_cast<std::size_t>(impl_->handle->outq_len()) + impl_->waiting();
}

void producer::check_reachable(std::chrono::milliseconds timeout) {
  detail::check_reachable(*impl_->handle, timeout);
}

void producer::ensure_topics(const std::vector<std::string>& topics, int partitions,
                             std::chrono::milliseconds timeout) {
  detail::create_topics(*impl_->handle, topics, partitions, timeout);
}

} // namespace iaposte::kafka
