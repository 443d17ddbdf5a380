// The life of one request: intake → validate → render → claim → compose → deliver with
// retries → record + publish → commit. One coroutine per request on the daemon's executor.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "core/backoff.hpp"
#include "core/request.hpp"
#include "kafka/kafka.hpp"

namespace iaposte::smtp {
class client;
}
namespace iaposte::store {
class store;
}

namespace iaposte::worker {

struct worker_config {
  std::string status_topic = "iaposte.status";
  std::string dlq_topic = "iaposte.dlq";
  core::limits limits;
  core::backoff_config backoff;
  std::string message_id_domain; // empty: the sender's domain
  // A send_at further ahead than this is rejected until retry topics exist.
  std::chrono::seconds max_schedule_wait{300};
};

struct counters {
  std::size_t received = 0, sent = 0, deferred = 0, bounced = 0, failed = 0, rejected = 0,
              duplicate = 0;
};

class worker {
public:
  // `finished` is called (on the executor) once a request's outcome is durable:
  // recorded in PostgreSQL and acknowledged by the broker. The caller commits its offset.
  worker(boost::asio::any_io_executor ex, worker_config cfg, kafka::producer& producer,
         store::store& store, smtp::client& smtp,
         std::function<void(const kafka::message&)> finished);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Starts handling one message; thread-safe (posts to the executor).
  void submit(kafka::message m);

  // Stops retry waits (their requests stay uncommitted and are redelivered later), then
  // waits up to `deadline` for the requests in flight to finish.
  boost::asio::awaitable<void> drain(std::chrono::milliseconds deadline);

  std::size_t active() const;
  counters stats() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace iaposte::worker
