// HTTP/1.1 and HTTPS to one provider (internal): keep-alive pool, deadlines, TLS policy.
// Beast stays in http.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "ai/client.hpp"

namespace iaposte::ai::detail {

struct endpoint {
  bool tls = false;
  std::string host; // without brackets
  std::uint16_t port = 0;
  std::string path; // base path without trailing '/', e.g. "/v1"
};
// "http(s)://host[:port][/path]"; none and `error` for anything else.
std::optional<endpoint> parse_base_url(const std::string& url, std::string& error);

// Retry-After (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) and the retry-after-ms
// extension some gateways send; none when absent or unreadable.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& retry_after,
                                                           const std::string& retry_after_ms);

struct http_response {
  int status = 0; // 0: no response; see error
  std::string body;
  std::optional<std::chrono::milliseconds> retry_after;
  std::string error; // "connect: Connection refused", "timeout", "TLS handshake: ..."
  bool timed_out = false;
  bool transient = true; // false: retrying cannot help (bad URL or CA file, TLS verification)
};

// One provider's connections. Runs on the client's (single-threaded) executor.
class http_pool {
public:
  http_pool(boost::asio::any_io_executor ex, const provider_config& cfg);
  ~http_pool();
  http_pool(const http_pool&) = delete;
  http_pool& operator=(const http_pool&) = delete;

  // POSTs `body` (JSON) to base path + `suffix`, with the API key as a bearer token. Every
  // step (resolve, connect, TLS handshake, write, read) ends by `deadline`; connect also
  // by the connect timeout. A reused keep-alive connection that the server closed before
  // answering is retried once on a new one. Never throws for network failures.
  boost::asio::awaitable<http_response> post(const std::string& suffix, const std::string& body,
                                             std::chrono::steady_clock::time_point deadline);

  std::size_t idle() const { return idle_count_; }

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::atomic<std::size_t> idle_count_{0};
};

} // namespace iaposte::ai::detail
