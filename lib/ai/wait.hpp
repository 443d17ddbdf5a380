// Waiting without blocking a thread (internal): a counting semaphore for coroutines, and a
// slot for a value produced on another thread (the PostgreSQL worker), both with deadlines.
// Single-threaded executor only (the client's).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace iaposte::ai::detail {

class semaphore {
public:
  semaphore(boost::asio::any_io_executor ex, std::size_t n) : ex_(std::move(ex)), free_(n) {}

  // True once a unit is taken; false when `deadline` passes first. First come, first served.
  boost::asio::awaitable<bool> acquire(std::chrono::steady_clock::time_point deadline) {
    if (free_ > 0 && waiters_.empty()) {
      --free_;
      co_return true;
    }
    waiter w{boost::asio::steady_timer(ex_, deadline)};
    waiters_.push_back(&w);
    co_await w.timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (w.granted) co_return true;
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
    co_return false;
  }

  void release() {
    if (waiters_.empty()) {
      ++free_;
      return;
    }
    waiter* w = waiters_.front();
    waiters_.pop_front();
    w->granted = true;
    w->timer.cancel();
  }

  std::size_t available() const { return free_; }

private:
  struct waiter {
    boost::asio::steady_timer timer;
    bool granted = false;
  };
  boost::asio::any_io_executor ex_;
  std::size_t free_;
  std::deque<waiter*> waiters_;
};

// Releases a unit on scope exit.
struct permit {
  semaphore* s = nullptr;
  ~permit() {
    if (s) s->release();
  }
};

// A value delivered from another thread: deliver() posts it to the executor and wakes the
// waiting coroutine. Shared: the thread may deliver after the waiter gave up.
template <typename T> struct slot : std::enable_shared_from_this<slot<T>> {
  explicit slot(boost::asio::any_io_executor e)
      : ex(e), timer(e, std::chrono::steady_clock::time_point::max()) {}

  // Any thread.
  void deliver(T v) {
    boost::asio::post(ex, [self = this->shared_from_this(), v = std::move(v)]() mutable {
      self->value = std::move(v);
      self->timer.cancel();
    });
  }
  // On the executor: the value, or none when `deadline` passed first.
  boost::asio::awaitable<std::optional<T>> wait(std::chrono::steady_clock::time_point deadline) {
    if (!value) {
      timer.expires_at(deadline);
      co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    co_return std::move(value);
  }

  boost::asio::any_io_executor ex;
  boost::asio::steady_timer timer;
  std::optional<T> value;
};

} // namespace iaposte::ai::detail
