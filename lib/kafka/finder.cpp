// key_finder: scans a topic by key from a timestamp to its end, batching queued searches.
#include <librdkafka/rdkafkacpp.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "kafka/detail.hpp"
#include "kafka/finder.hpp"
#include "kafka/protocol.hpp"
#include "log/log.hpp"

namespace iaposte::kafka {

namespace {

struct search {
  std::string key;
  std::chrono::system_clock::time_point since;
  key_finder::match_fn match;
  key_finder::done_fn done;
  std::optional<std::string> found;
};

constexpr int op_timeout_ms = 10000;
constexpr auto scan_timeout = std::chrono::seconds(60);

} // namespace

struct key_finder::impl {
  std::string brokers, topic;
  properties extra;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<search> queue;
  bool stopping = false;
  std::atomic<std::uint64_t> scans{0};
  std::thread thread;

  // One scan for every search in `batch`; returns an error text, empty on success.
  std::string scan(std::vector<search>& batch) {
    auto conf = detail::make_conf(brokers, {});
    detail::set_or_throw(*conf, "client.id", "iaposted-finder");
    detail::set_or_throw(*conf, "group.id", "iaposted-finder"); // required; never joined
    detail::set_or_throw(*conf, "enable.auto.commit", "false");
    detail::set_or_throw(*conf, "enable.partition.eof", "true");
    for (const auto& [k, v] : extra)
      detail::set_or_throw(*conf, k, v);
    std::string err;
    std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!c) return "consumer: " + err;

    RdKafka::Metadata* md = nullptr;
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(c.get(), topic, nullptr, err));
    if (auto e = c->metadata(false, t.get(), &md, op_timeout_ms); e != RdKafka::ERR_NO_ERROR)
      return "metadata: " + RdKafka::err2str(e);
    std::unique_ptr<RdKafka::Metadata> md_owner(md);
    std::vector<std::int32_t> partitions;
    for (const auto* tm : *md->topics())
      if (tm->topic() == topic)
        for (const auto* pm : *tm->partitions())
          partitions.push_back(pm->id());
    if (partitions.empty()) return "topic " + topic + " has no partitions";

    auto since = batch.front().since;
    for (const auto& s : batch)
      since = std::min(since, s.since);
    std::vector<RdKafka::TopicPartition*> start;
    for (auto p : partitions)
      start.push_back(RdKafka::TopicPartition::create(topic, p, epoch_ms(since)));
    auto e = c->offsetsForTimes(start, op_timeout_ms);
    std::map<std::int32_t, std::int64_t> end; // partition → end offset when the scan began
    std::vector<RdKafka::TopicPartition*> assign;
    std::string error;
    if (e != RdKafka::ERR_NO_ERROR) error = "offsetsForTimes: " + RdKafka::err2str(e);
    for (auto* tp : start) {
      if (!error.empty()) break;
      std::int64_t low = 0, high = 0;
      auto we = c->query_watermark_offsets(topic, tp->partition(), &low, &high, op_timeout_ms);
      if (we != RdKafka::ERR_NO_ERROR) {
        error = "watermarks: " + RdKafka::err2str(we);
        break;
      }
      // No message at or after `since` (offset -1, the end): nothing to read there.
      if (tp->offset() < 0 || tp->offset() >= high) continue;
      end[tp->partition()] = high;
      assign.push_back(RdKafka::TopicPartition::create(topic, tp->partition(), tp->offset()));
    }
    RdKafka::TopicPartition::destroy(start);
    if (error.empty() && !assign.empty()) {
      if (auto ae = c->assign(assign); ae != RdKafka::ERR_NO_ERROR)
        error = "assign: " + RdKafka::err2str(ae);
    }
    RdKafka::TopicPartition::destroy(assign);

    std::multimap<std::string, search*> wanted;
    for (auto& s : batch)
      wanted.emplace(s.key, &s);
    const auto deadline = std::chrono::steady_clock::now() + scan_timeout;
    while (error.empty() && !end.empty()) {
      if (std::chrono::steady_clock::now() > deadline) {
        error = "scan timed out";
        break;
      }
      std::unique_ptr<RdKafka::Message> m(c->consume(500));
      if (!m || m->err() == RdKafka::ERR__TIMED_OUT) continue;
      if (m->err() == RdKafka::ERR__PARTITION_EOF) {
        end.erase(m->partition());
        continue;
      }
      if (m->err() != RdKafka::ERR_NO_ERROR) {
        error = "consume: " + m->errstr();
        break;
      }
      if (m->key()) {
        auto [b, e2] = wanted.equal_range(*m->key());
        std::string_view payload(static_cast<const char*>(m->payload()), m->len());
        for (auto it = b; it != e2; ++it)
          if (!it->second->found && it->second->match(payload))
            it->second->found = std::string(payload);
      }
      if (auto it = end.find(m->partition()); it != end.end() && m->offset() + 1 >= it->second)
        end.erase(it);
    }
    c->close();
    return error;
  }

  void run() {
    for (;;) {
      std::vector<search> batch;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (stopping) break;
        // Let the searches of one redelivery burst gather into one scan.
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        lock.lock();
        while (!queue.empty()) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      std::string error;
      try {
        error = scan(batch);
      } catch (const std::exception& e) {
        error = e.what();
      }
      ++scans;
      std::size_t found = 0;
      for (const auto& s : batch)
        found += s.found ? 1 : 0;
      log::info("kafka.key_scan",
                {{"topic", topic}, {"searches", batch.size()}, {"found", found}, {"error", error}});
      for (auto& s : batch)
        s.done(std::move(s.found), s.found ? std::string{} : error);
    }
    std::deque<search> left;
    {
      std::lock_guard lock(mu);
      left.swap(queue);
    }
    for (auto& s : left)
      s.done(std::nullopt, "stopping");
  }
};

key_finder::key_finder(std::string brokers, std::string topic, properties extra)
    : impl_(std::make_unique<impl>()) {
  impl_->brokers = std::move(brokers);
  impl_->topic = std::move(topic);
  impl_->extra = std::move(extra);
  impl_->thread = std::thread([p = impl_.get()] { p->run(); });
}

key_finder::~key_finder() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

void key_finder::find(std::string key, std::chrono::system_clock::time_point since, match_fn match,
                      done_fn done) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->queue.push_back(
        {std::move(key), since, std::move(match), std::move(done), std::nullopt});
  }
  impl_->cv.notify_one();
}

std::uint64_t key_finder::scans() const {
  return impl_->scans.load();
}

} // namespace iaposte::kafka
