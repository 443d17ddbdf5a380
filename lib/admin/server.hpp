// The admin HTTP server: health, readiness, metrics, OpenAPI and management routes on loopback,
// on its own thread so that a slow scrape never delays delivery. No Beast or Asio in here.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iaposte::metrics {
class registry;
}

namespace iaposte::admin {

// What a token may do; `admin` includes `read`. `none` marks an open route.
enum class role : std::uint8_t { none = 0, read = 1, admin = 2 };

struct token {
  std::string name; // shown in logs and given to handlers; never the secret
  admin::role role = role::read;
  std::string file;   // holds the secret (trailing whitespace and newline ignored)
  std::string secret; // or the secret itself (tests, environment); wins over `file` when set
};

struct server_config {
  bool enabled = true;
  std::string address = "127.0.0.1";  // an IP literal
  std::uint16_t port = 9464;          // 0: an ephemeral port, see server::port()
  bool metrics_require_token = false; // /metrics open, or `read`
  std::vector<token> tokens;
  std::size_t max_connections = 64;
  std::size_t max_header_bytes = 8 * 1024;       // request line and headers; beyond: 431
  std::size_t max_body_bytes = 64 * 1024;        // beyond: 413
  std::chrono::milliseconds read_timeout{10000}; // one whole request, and keep-alive idleness
  std::chrono::milliseconds write_timeout{10000};
};

// One readiness check's verdict, e.g. {false, "broker 127.0.0.1:9092 unreachable"}.
struct check_result {
  bool ok = false;
  std::string detail;
};

// What a route handler sees. The views live as long as the handler call.
struct request {
  std::string_view method; // "GET", "POST", ...
  std::string_view path;   // without the query string
  std::string_view query;  // after '?', undecoded; empty when none
  std::string_view content_type;
  std::string_view body;
  std::string_view token_name; // the authenticated token; empty on an open route
  admin::role role = role::none;
};

struct response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers; // extra ones
};

using handler = std::function<response(const request&)>;

// A management route: `method` on `path_prefix` and below ("/api/messages" serves
// "/api/messages" and "/api/messages/42", not "/api/messagesX"); the longest prefix wins.
// The handler runs on the admin thread: it must not block for long (hand slow work elsewhere).
struct route {
  std::string method = "GET";
  std::string path_prefix;
  admin::role required = role::admin;
  admin::handler fn;
  std::string summary; // for the OpenAPI document
};

class server {
public:
  // Reads the token files; throws std::runtime_error naming the token and file (never the
  // secret) when one is missing, empty or duplicated. `metrics` (may be null: no /metrics)
  // must outlive the server.
  explicit server(server_config cfg, const metrics::registry* metrics = nullptr);
  ~server(); // stop()
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // /readyz answers 200 when every check passes, 503 otherwise. Checks run on the admin thread
  // at each request: read a state, do not probe the network here. Any time, any thread.
  void add_check(std::string name, std::function<check_result()> fn);
  // Throws std::invalid_argument on an empty handler, a bad prefix or a clash with an existing
  // route (same method and prefix). Any time, any thread.
  void add_route(route r);

  // Binds and listens, then serves on a thread of its own; throws std::runtime_error when the
  // address cannot be bound. Does nothing when !enabled. Call once.
  void start();
  // Closes the listener and every connection, then joins the thread. Idempotent; not from a
  // handler.
  void stop();

  // The bound port once started (the ephemeral one when configured with 0); 0 before.
  std::uint16_t port() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace iaposte::admin
