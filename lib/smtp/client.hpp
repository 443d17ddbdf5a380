// The SMTP client facade: one relay, a pool of sessions, one call per message.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "smtp/reply.hpp"

namespace iaposte::smtp {

enum class tls_mode { none, opportunistic, required, implicit };

struct relay_config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 25;
  std::string helo_name = "localhost";
  smtp::tls_mode tls = tls_mode::none;
  std::string ca_file;     // empty: system store
  bool verify_peer = true; // certificate and host name
  std::string user;        // AUTH when non-empty
  std::string password;    // never logged
  bool allow_plaintext_auth = false;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds command_timeout{30000}; // greeting, EHLO, MAIL, RCPT, RSET, QUIT
  std::chrono::milliseconds data_timeout{120000};   // body transfer and final dot
  std::size_t max_connections = 20;
  std::size_t max_messages_per_connection = 100;
  std::chrono::milliseconds idle_timeout{30000};
};

struct envelope {
  std::string mail_from;
  std::vector<std::string> rcpt_to;
};

enum class outcome_kind { sent, transient, permanent };

struct outcome {
  outcome_kind kind = outcome_kind::transient;
  reply last;        // the reply that decided it (code 0 when none: connection or timeout)
  std::string error; // local description: "connect: Connection refused", "timeout in RCPT", ...
};

// Called once the whole body is with the server, right before the final dot: the dot is
// written only when it returns true. On false the connection is closed without the dot (the
// server drops the transaction) and the outcome is transient. For the caller to record
// durably that the message may be delivered from now on.
using before_dot_fn = std::function<boost::asio::awaitable<bool>()>;

// Threading: a client and every coroutine it starts run on the one executor given to the
// constructor, and that executor must not run handlers concurrently (an io_context run by one
// thread, or a strand). Destroy the client only after every send() and probe() has completed;
// idle connections are then closed with QUIT in the background.
class client {
public:
  client(boost::asio::any_io_executor ex, relay_config cfg);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Delivers one message (CRLF, not dot-stuffed) to every recipient. The outcome
  // is decided where the reply is read: 2xx sent, 4xx/connection/timeout transient,
  // 5xx permanent. Never throws for network or protocol failures.
  boost::asio::awaitable<outcome> send(const envelope& env, std::string_view message,
                                       const before_dot_fn* before_dot = nullptr);

  // Probes the relay once (connect, greeting, EHLO, QUIT); for start-up checks.
  // With TLS or a user configured, STARTTLS (or implicit TLS) and AUTH are done too, so a bad
  // certificate or password shows at start-up; the probe does not use a pool slot.
  boost::asio::awaitable<outcome> probe();

  // Closes idle sessions; in-flight sends finish.
  void close_idle();

  // Counters for tests and metrics: connections this client tried to open (pool and probe),
  // and those open now (idle or busy).
  std::size_t connections_opened() const;
  std::size_t connections_open() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace iaposte::smtp
