// The group consumer: watermark offsets, pause-based back-pressure, not-before holds.
#include "kafka/consumer.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include "kafka/detail.hpp"
#include "kafka/protocol.hpp"
#include "log/log.hpp"

namespace iaposte::kafka {

using detail::make_conf;
using detail::set_or_throw;

const std::string* message::header(std::string_view name) const {
  for (const auto& [k, v] : hdrs)
    if (k == name) return &v;
  return nullptr;
}

namespace {

using partition_key = std::pair<std::string, std::int32_t>;

// One assigned partition: its assignment epoch, the offsets handed out and not done yet,
// the next offset to hand out, and the offset last stored.
struct partition_marks {
  std::uint64_t epoch = 0;
  std::set<std::int64_t> in_flight;
  std::int64_t next = -1;
  std::int64_t stored = -1;
  std::int64_t watermark() const { return in_flight.empty() ? next : *in_flight.begin(); }
};

// A partition held back: its next message (at `offset`) is due at `due`.
struct hold {
  std::int64_t offset = 0;
  std::chrono::system_clock::time_point due;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string name_of(const std::string& topic, std::int32_t partition) {
  return topic + "/" + std::to_string(partition);
}

nlohmann::json names_of(const std::vector<RdKafka::TopicPartition*>& parts) {
  nlohmann::json names = nlohmann::json::array();
  for (auto* p : parts)
    names.push_back(name_of(p->topic(), p->partition()));
  return names;
}

// incremental_assign()/incremental_unassign() return an error object to delete.
std::string take_error(RdKafka::Error* e) {
  if (!e) return {};
  std::string text = e->str();
  delete e;
  return text;
}

} // namespace

struct consumer::impl final : RdKafka::RebalanceCb {
  consumer_config cfg;
  detail::event_logger events{"consumer"};
  std::unique_ptr<RdKafka::KafkaConsumer> handle;
  std::thread poller;
  std::atomic<bool> stopping{false}, intake_stopped{false}, is_paused{false};
  std::atomic<std::size_t> in_flight{0}, evictions{0};
  std::mutex room_mu; // with room_cv: the poll thread waits for in_flight < max_in_flight
  std::condition_variable room_cv;

  std::mutex mu;                      // guards marks, epochs, closing
  std::condition_variable drained_cv; // a partition's in-flight set became empty, or stopping
  std::map<partition_key, partition_marks> marks; // the assigned partitions (daemon mode)
  std::uint64_t epochs = 0;
  bool closing = false; // close() runs: the final revoke does not wait for work in flight
  std::map<partition_key, hold> holds; // poll thread only (rebalance_cb runs there too)
  std::atomic<std::size_t> held_count{0};

  bool is_held(const std::string& topic, std::int32_t partition) const {
    return holds.count({topic, partition}) > 0;
  }

  // Resumes `parts` except the held ones.
  void resume_unheld(RdKafka::KafkaConsumer* c,
                     const std::vector<RdKafka::TopicPartition*>& parts) {
    std::vector<RdKafka::TopicPartition*> go;
    for (auto* p : parts)
      if (!is_held(p->topic(), p->partition())) go.push_back(p);
    if (!go.empty()) c->resume(go);
  }

  // The message is not due: pause its partition and seek back to it, so that it is fetched
  // again (with whatever follows it) once the partition is resumed.
  void hold_back(RdKafka::Message& m, std::int64_t due_ms) {
    std::vector<RdKafka::TopicPartition*> tp{
        RdKafka::TopicPartition::create(m.topic_name(), m.partition(), m.offset())};
    handle->pause(tp);
    auto err = handle->seek(*tp[0], 0);
    RdKafka::TopicPartition::destroy(tp);
    holds[{m.topic_name(), m.partition()}] =
        hold{m.offset(), std::chrono::system_clock::time_point(std::chrono::milliseconds(due_ms))};
    held_count = holds.size();
    log::debug("kafka.held", {{"partition", name_of(m.topic_name(), m.partition())},
                              {"offset", m.offset()},
                              {"due_in_ms", due_ms - now_ms()},
                              {"seek", RdKafka::err2str(err)}});
  }

  // Resumes the held partitions that are due (unless everything is paused).
  void release_due_holds() {
    if (holds.empty()) return;
    auto now = std::chrono::system_clock::now();
    std::vector<RdKafka::TopicPartition*> due;
    for (auto it = holds.begin(); it != holds.end();) {
      if (it->second.due <= now) {
        due.push_back(RdKafka::TopicPartition::create(it->first.first, it->first.second));
        it = holds.erase(it);
      } else {
        ++it;
      }
    }
    held_count = holds.size();
    if (due.empty()) return;
    if (!is_paused.load()) handle->resume(due);
    RdKafka::TopicPartition::destroy(due);
  }

  // A message of a held partition fetched before the pause took effect: dropped, it is
  // fetched again after the seek.
  bool drop_held(const RdKafka::Message& m) const {
    auto it = holds.find({m.topic_name(), m.partition()});
    return it != holds.end() && m.offset() >= it->second.offset;
  }

  // The not-before time of a message, if it has one in the future.
  static std::optional<std::int64_t> not_due(RdKafka::Message& m) {
    auto* h = m.headers();
    if (!h) return std::nullopt;
    auto hd = h->get_last(std::string(not_before_header));
    if (hd.err() != RdKafka::ERR_NO_ERROR || !hd.value()) return std::nullopt;
    auto due = parse_epoch_ms({static_cast<const char*>(hd.value()), hd.value_size()});
    if (!due || *due <= now_ms()) return std::nullopt; // malformed: ignored, due now
    return due;
  }

  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    const std::string protocol = c->rebalance_protocol();
    const bool cooperative = protocol == "COOPERATIVE";
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      {
        // A fresh epoch per assigned partition; the other partitions' marks stay as they are.
        std::lock_guard lock(mu);
        for (auto* p : parts)
          marks[{p->topic(), p->partition()}] = partition_marks{++epochs, {}, -1, -1};
      }
      std::string error;
      if (cooperative)
        error = take_error(c->incremental_assign(parts));
      else if (auto e = c->assign(parts); e != RdKafka::ERR_NO_ERROR)
        error = RdKafka::err2str(e);
      if (!error.empty())
        log::error("kafka.assign_failed", {{"partitions", names_of(parts)}, {"error", error}});
      // librdkafka keeps a partition's paused flag across a loss and a reassignment
      // (librdkafka#1849): set it explicitly both ways, or a partition paused before a
      // broker restart stays paused forever.
      if (!parts.empty()) {
        if (is_paused.load())
          c->pause(parts);
        else
          resume_unheld(c, parts);
      }
      log::info("kafka.assigned", {{"partitions", names_of(parts)},
                                   {"protocol", protocol},
                                   {"assigned", assigned_count(c)}});
    } else if (err == RdKafka::ERR__REVOKE_PARTITIONS) {
      const bool lost = c->assignment_lost();
      for (auto* p : parts)
        holds.erase({p->topic(), p->partition()});
      held_count = holds.size();
      nlohmann::json fields = release(c, parts, lost);
      std::string error;
      if (cooperative)
        error = take_error(c->incremental_unassign(parts));
      else if (auto e = c->unassign(); e != RdKafka::ERR_NO_ERROR)
        error = RdKafka::err2str(e);
      if (!error.empty())
        log::error("kafka.unassign_failed", {{"partitions", names_of(parts)}, {"error", error}});
      fields["partitions"] = names_of(parts);
      fields["protocol"] = protocol;
      fields["assigned"] = assigned_count(c);
      if (lost)
        log::warn("kafka.lost", std::move(fields));
      else
        log::info("kafka.revoked", std::move(fields));
    } else {
      // A failed rebalance: drop everything; the group assigns again.
      log::error("kafka.rebalance_error",
                 {{"code", RdKafka::err2str(err)}, {"partitions", names_of(parts)}});
      {
        std::lock_guard lock(mu);
        marks.clear();
      }
      holds.clear();
      held_count = 0;
      drained_cv.notify_all();
      c->unassign();
    }
  }

  static std::size_t assigned_count(RdKafka::KafkaConsumer* c) {
    std::vector<RdKafka::TopicPartition*> now;
    if (c->assignment(now) != RdKafka::ERR_NO_ERROR) return 0;
    std::size_t n = now.size();
    RdKafka::TopicPartition::destroy(now);
    return n;
  }

  // Revoke, before the partitions go: wait (bounded) until their messages in flight are
  // done, then store and commit their watermark synchronously. Runs on the poll thread (or
  // in close()); done() keeps being called from the worker's threads meanwhile. Returns the
  // log fields.
  nlohmann::json release(RdKafka::KafkaConsumer* c,
                         const std::vector<RdKafka::TopicPartition*>& parts, bool lost) {
    nlohmann::json fields = nlohmann::json::object();
    fields["lost"] = lost;
    if (!cfg.manual_offsets) return fields;
    std::vector<partition_key> keys;
    for (auto* p : parts)
      keys.emplace_back(p->topic(), p->partition());
    const auto started = std::chrono::steady_clock::now();
    std::vector<RdKafka::TopicPartition*> offsets;
    std::size_t left = 0;
    nlohmann::json unfinished = nlohmann::json::array();
    const char* unfinished_event = nullptr;
    bool timed_out = false;
    {
      std::unique_lock lock(mu);
      auto drained = [&] {
        for (const auto& k : keys)
          if (auto it = marks.find(k); it != marks.end() && !it->second.in_flight.empty())
            return false;
        return true;
      };
      // Lost partitions already belong to another member: nothing to wait for or commit.
      // In close(), after the drain, what is still in flight will not finish here.
      if (!lost && !closing)
        timed_out = !drained_cv.wait_until(lock, started + cfg.revoke_timeout,
                                           [&] { return stopping.load() || drained(); });
      for (const auto& k : keys) {
        auto it = marks.find(k);
        if (it == marks.end()) continue;
        const auto& pm = it->second;
        if (!pm.in_flight.empty()) {
          left += pm.in_flight.size();
          unfinished.push_back(name_of(k.first, k.second));
        }
        // Nothing handed out in this epoch: the committed offset is already right.
        if (!lost && pm.next >= 0)
          offsets.push_back(RdKafka::TopicPartition::create(k.first, k.second, pm.watermark()));
        marks.erase(it); // later done() calls for these messages only leave the count
      }
      if (!lost && left > 0)
        unfinished_event = closing ? "kafka.revoke_unfinished" : "kafka.revoke_timeout";
    }
    // What is still in flight is redelivered to the next owner, whose PostgreSQL claim
    // stops a second send; only the watermark below it is committed.
    if (unfinished_event)
      log::warn(unfinished_event, {{"partitions", unfinished},
                                   {"in_flight", left},
                                   {"timeout_ms", cfg.revoke_timeout.count()},
                                   {"timed_out", timed_out}});
    fields["waited_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
    fields["in_flight"] = left;
    if (offsets.empty()) return fields;
    nlohmann::json committed = nlohmann::json::array();
    for (auto* tp : offsets)
      committed.push_back(name_of(tp->topic(), tp->partition()) + "@" +
                          std::to_string(tp->offset()));
    fields["committed"] = committed;
    // Stored too, so that librdkafka's own commit on unassign sends the same offsets.
    c->offsets_store(offsets);
    auto err = c->commitSync(offsets);
    std::string failed;
    for (auto* tp : offsets)
      if (tp->err() != RdKafka::ERR_NO_ERROR)
        failed += name_of(tp->topic(), tp->partition()) + ": " + RdKafka::err2str(tp->err()) + "; ";
    RdKafka::TopicPartition::destroy(offsets);
    if (err != RdKafka::ERR_NO_ERROR || !failed.empty()) {
      // Not fatal: those requests are read again by the next owner and its claim in
      // PostgreSQL stops a second send.
      log::warn("kafka.commit_failed",
                {{"partitions", committed}, {"code", RdKafka::err2str(err)}, {"detail", failed}});
      fields["commit_error"] = RdKafka::err2str(err);
    }
    return fields;
  }

  void set_paused(bool pause) {
    std::vector<RdKafka::TopicPartition*> parts;
    if (handle->assignment(parts) != RdKafka::ERR_NO_ERROR) return;
    if (pause)
      handle->pause(parts);
    else
      resume_unheld(handle.get(), parts);
    RdKafka::TopicPartition::destroy(parts);
    is_paused = pause;
    log::info(pause ? "kafka.paused" : "kafka.resumed", {{"in_flight", in_flight.load()}});
  }

  // A consume() error: the eviction is counted, everything else logged.
  void consume_error(const RdKafka::Message& m) {
    if (m.err() == RdKafka::ERR__MAX_POLL_EXCEEDED) {
      // The group dropped this member: its partitions are revoked as lost at the next poll
      // (nothing committed from here) and the member joins again. The new owners re-read
      // from the last commit; their PostgreSQL claims stop a second send.
      auto n = evictions.fetch_add(1) + 1;
      log::error("kafka.evicted",
                 {{"detail", m.errstr()}, {"evictions", n}, {"in_flight", in_flight.load()}});
      return;
    }
    log::warn("kafka.consume_error", {{"code", RdKafka::err2str(m.err())}, {"detail", m.errstr()}});
  }

  // Called with the message taken from librdkafka; records it as in flight.
  message take(RdKafka::Message& m) {
    message out;
    out.topic = m.topic_name();
    out.partition = m.partition();
    out.offset = m.offset();
    if (m.key()) out.key = *m.key();
    if (auto ts = m.timestamp(); ts.type != RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE)
      out.timestamp_ms = ts.timestamp;
    out.payload.assign(static_cast<const char*>(m.payload()), m.len());
    if (auto* h = m.headers()) {
      for (const auto& hd : h->get_all())
        out.hdrs.emplace_back(hd.key(),
                              std::string(static_cast<const char*>(hd.value()), hd.value_size()));
    }
    if (cfg.manual_offsets) {
      std::lock_guard lock(mu);
      if (auto it = marks.find({out.topic, out.partition}); it != marks.end()) {
        auto& pm = it->second;
        out.generation = pm.epoch;
        pm.in_flight.insert(out.offset);
        pm.next = std::max(pm.next, out.offset + 1);
      } else {
        // librdkafka drops the fetched messages of unassigned partitions; should one
        // slip through, it is processed but never advances an offset.
        log::warn("kafka.unassigned_message",
                  {{"partition", name_of(out.topic, out.partition)}, {"offset", out.offset}});
      }
      in_flight.fetch_add(1);
    }
    return out;
  }

  void free_slot() {
    if (in_flight.fetch_sub(1) == cfg.max_in_flight) room_cv.notify_one();
  }

  void done(const message& m) {
    if (!cfg.manual_offsets) return;
    if (!m.slot_released) free_slot();
    std::lock_guard lock(mu);
    auto it = marks.find({m.topic, m.partition});
    // Revoked since (and maybe assigned again): no longer ours to store.
    if (it == marks.end() || it->second.epoch != m.generation) return;
    auto& pm = it->second;
    pm.in_flight.erase(m.offset);
    if (pm.in_flight.empty()) drained_cv.notify_all();
    std::int64_t watermark = pm.watermark();
    if (watermark <= pm.stored) return;
    std::vector<RdKafka::TopicPartition*> tp{
        RdKafka::TopicPartition::create(m.topic, m.partition, watermark)};
    auto err = handle->offsets_store(tp);
    RdKafka::TopicPartition::destroy(tp);
    if (err == RdKafka::ERR_NO_ERROR) pm.stored = watermark;
  }
};

consumer::consumer(consumer_config cfg) : impl_(std::make_unique<impl>()) {
  impl_->cfg = std::move(cfg);
  const auto& c = impl_->cfg;
  auto conf = make_conf(c.brokers, {});
  set_or_throw(*conf, "group.id", c.group_id);
  set_or_throw(*conf, "auto.offset.reset", c.offset_reset);
  set_or_throw(*conf, "enable.partition.eof", "false");
  // Incremental rebalancing: a member joining or leaving moves only the partitions that
  // change owner; the others keep being consumed, their work in flight undisturbed.
  set_or_throw(*conf, "partition.assignment.strategy", "cooperative-sticky");
  // Members learn of a rebalance at their next heartbeat, and a cooperative rebalance takes
  // two rounds: 1 s instead of librdkafka's 3 s brings a join from ~6 s down to ~2 s.
  set_or_throw(*conf, "heartbeat.interval.ms", "1000");
  if (c.manual_offsets) {
    set_or_throw(*conf, "enable.auto.commit", "true");
    set_or_throw(*conf, "enable.auto.offset.store", "false");
    set_or_throw(*conf, "auto.commit.interval.ms", std::to_string(c.commit_interval.count()));
  }
  for (const auto& [k, v] : c.extra)
    set_or_throw(*conf, k, v);
  std::string err;
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&impl_->events), err) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(impl_.get()), err) !=
          RdKafka::Conf::CONF_OK)
    throw std::runtime_error("kafka consumer callbacks: " + err);
  impl_->handle.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!impl_->handle) throw std::runtime_error("kafka consumer: " + err);
  auto sub = impl_->handle->subscribe(c.topics);
  if (sub != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("kafka subscribe: " + RdKafka::err2str(sub));
}

consumer::~consumer() {
  close();
}

void consumer::start(std::function<void(message)> on_message) {
  impl_->poller = std::thread([p = impl_.get(), on_message = std::move(on_message)] {
    const std::size_t high = p->cfg.max_in_flight;
    const std::size_t low = high - high / 4;
    std::optional<std::chrono::steady_clock::time_point> full_since;
    while (!p->stopping.load()) {
      std::size_t n = p->in_flight.load();
      if (p->intake_stopped && !p->is_paused) p->set_paused(true);
      if (n >= high && !p->intake_stopped) {
        // Full: wait for room without fetching more. A pause/resume cycle costs about a
        // second of refetching in librdkafka, so short bursts are absorbed by waiting;
        // only prolonged back-pressure (a dependency down) pauses the partitions, and then
        // polling goes on so that max.poll.interval.ms never evicts this member.
        auto now = std::chrono::steady_clock::now();
        if (!full_since) full_since = now;
        if (!p->is_paused && now - *full_since >= p->cfg.pause_after) p->set_paused(true);
        if (!p->is_paused) {
          std::unique_lock lock(p->room_mu);
          p->room_cv.wait_for(lock, std::chrono::milliseconds(50),
                              [&] { return p->in_flight.load() < high || p->stopping.load(); });
          continue;
        }
      } else {
        full_since.reset();
        if (p->is_paused && n <= low && !p->intake_stopped) p->set_paused(false);
      }
      p->release_due_holds();
      // Rebalance callbacks run in here, on this thread.
      std::unique_ptr<RdKafka::Message> m(p->handle->consume(100));
      if (!m) continue;
      if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) continue;
      if (m->err() != RdKafka::ERR_NO_ERROR) {
        p->consume_error(*m);
        continue;
      }
      if (p->intake_stopped) continue; // not marked: redelivered after restart
      if (p->drop_held(*m)) continue;
      if (auto due = p->not_due(*m)) {
        p->hold_back(*m, *due);
        continue;
      }
      on_message(p->take(*m));
    }
  });
}

bool consumer::poll_one(message& out, std::chrono::milliseconds timeout) {
  std::unique_ptr<RdKafka::Message> m(impl_->handle->consume(static_cast<int>(timeout.count())));
  if (!m || m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF)
    return false;
  if (m->err() != RdKafka::ERR_NO_ERROR) {
    impl_->consume_error(*m);
    return false;
  }
  out = impl_->take(*m);
  return true;
}

void consumer::done(const message& m) {
  impl_->done(m);
}

void consumer::release_slot(message& m) {
  if (!impl_->cfg.manual_offsets || m.slot_released) return;
  m.slot_released = true;
  impl_->free_slot();
}

void consumer::stop_intake() {
  impl_->intake_stopped = true;
}

void consumer::close() {
  if (!impl_->handle) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    impl_->closing = true;
  }
  impl_->drained_cv.notify_all(); // a revoke waiting on the poll thread gives up now
  impl_->room_cv.notify_all();
  if (impl_->poller.joinable()) impl_->poller.join();
  // The final revoke runs in here, through rebalance_cb on this thread: it commits the
  // watermarks synchronously; then librdkafka commits the stored offsets and leaves.
  auto err = impl_->handle->close();
  if (err != RdKafka::ERR_NO_ERROR)
    log::warn("kafka.close_failed", {{"code", RdKafka::err2str(err)}});
  impl_->handle.reset();
}

std::size_t consumer::in_flight() const {
  return impl_->in_flight.load();
}
bool consumer::paused() const {
  return impl_->is_paused.load();
}
std::size_t consumer::held() const {
  return impl_->held_count.load();
}
std::size_t consumer::evictions() const {
  return impl_->evictions.load();
}

} // namespace iaposte::kafka
