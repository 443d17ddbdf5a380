// Test support for the SMTP client: child processes (real peers), free ports, temp dirs,
// running a coroutine to completion with a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace iaposte::smtp::test {

// A directory under $TMPDIR removed with everything in it on destruction.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
  std::filesystem::path path_;
};

// A port on 127.0.0.1 nobody listened on a moment ago.
std::uint16_t free_port();

// A child process (posix_spawn, no shell), stdout and stderr to `log`; SIGTERM, then SIGKILL,
// and reaped on destruction.
class child_process {
public:
  child_process(std::vector<std::string> argv, std::filesystem::path log);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // Waits until 127.0.0.1:port accepts a connection; throws with the log when the child
  // exits or the deadline passes.
  void wait_for_port(std::uint16_t port,
                     std::chrono::milliseconds limit = std::chrono::milliseconds(10000));
  std::string log() const;
  bool running();

private:
  pid_t pid_ = -1;
  std::filesystem::path log_;
  std::string name_;
};

// Runs argv to completion; returns the exit status (throws when it cannot start).
int run_command(const std::vector<std::string>& argv, const std::filesystem::path& log);

std::string read_file(const std::filesystem::path& p);

// Runs the io_context until `a` completes or `limit` passes (then throws). The io_context is
// left with whatever else is pending (idle connections, background QUITs).
template <typename T>
T run(boost::asio::io_context& ioc, boost::asio::awaitable<T> a,
      std::chrono::milliseconds limit = std::chrono::milliseconds(15000)) {
  std::optional<T> result;
  std::exception_ptr error;
  boost::asio::co_spawn(ioc, std::move(a), [&](std::exception_ptr e, T v) {
    if (e)
      error = e;
    else
      result.emplace(std::move(v));
  });
  auto deadline = std::chrono::steady_clock::now() + limit;
  ioc.restart();
  while (!result && !error && std::chrono::steady_clock::now() < deadline)
    ioc.run_one_until(deadline);
  if (error) std::rethrow_exception(error);
  if (!result) throw std::runtime_error("coroutine did not complete in time");
  return std::move(*result);
}

// Runs the io_context until `done()` or `limit` passes; returns done().
template <typename Pred>
bool run_until(boost::asio::io_context& ioc, Pred done,
               std::chrono::milliseconds limit = std::chrono::milliseconds(15000)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  ioc.restart();
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    // Short slices so a condition changed by a timer-free path is seen promptly.
    ioc.run_one_for(std::chrono::milliseconds(10));
    if (ioc.stopped()) ioc.restart();
  }
  return done();
}

} // namespace iaposte::smtp::test
