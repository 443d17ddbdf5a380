// Awaiting work done on other threads (libpqxx, librdkafka): the callback posts the result
// back to the coroutine's executor, so no Asio thread ever blocks on them.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace iaposte::worker {

// `start` receives a std::function<void(T)> to call once, from any thread.
template <class T, class Start> boost::asio::awaitable<T> await_callback(Start start) {
  auto ex = co_await boost::asio::this_coro::executor;
  co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(T)>(
      [ex, start = std::move(start)](auto handler) mutable {
        using handler_t = decltype(handler);
        struct state {
          handler_t handler;
          boost::asio::executor_work_guard<boost::asio::any_io_executor> work;
        };
        auto s =
            std::make_shared<state>(state{std::move(handler), boost::asio::make_work_guard(ex)});
        start(std::function<void(T)>([s](T value) {
          auto target = s->work.get_executor();
          boost::asio::post(target, [s, value = std::move(value)]() mutable {
            s->handler(std::move(value));
            s->work.reset();
          });
        }));
      },
      boost::asio::use_awaitable);
}

} // namespace iaposte::worker
