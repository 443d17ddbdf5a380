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
  std::string ca_file;      // empty: system store
  bool verify_peer = true;  // certificate and host name
  std::string user;         // AUTH when non-empty
  std::string password;     // never logged
  std::string oauth2_token; // XOAUTH2 access token (with `user`); never logged
  bool allow_plaintext_auth = false;
  std::chrono::milliseconds connect_timeout{10000}; // TCP connect and implicit TLS handshake
  std::chrono::milliseconds command_timeout{30000}; // EHLO, STARTTLS, AUTH, RSET, QUIT
  std::chrono::milliseconds data_timeout{120000};   // body transfer and final dot
  // RFC 5321 §4.5.3.2, one per phase; zero: inherit the coarse value named beside each (the RFC
  // minimums are 5 min greeting/MAIL/RCPT, 2 min DATA, 3 min per data block, 10 min final dot).
  std::chrono::milliseconds greeting_timeout{0};   // 0: what is left of connect_timeout
  std::chrono::milliseconds mail_timeout{0};       // 0: command_timeout
  std::chrono::milliseconds rcpt_timeout{0};       // 0: command_timeout
  std::chrono::milliseconds data_start_timeout{0}; // DATA until 354; 0: command_timeout
  std::chrono::milliseconds data_block_timeout{
      0}; // each write of the body makes progress; 0: data_timeout
  std::chrono::milliseconds final_dot_timeout{0}; // the reply to the final dot; 0: data_timeout
  std::size_t max_connections = 20;
  std::size_t max_messages_per_connection = 100;
  std::chrono::milliseconds idle_timeout{30000};
};

struct envelope {
  std::string mail_from;
  std::vector<std::string> rcpt_to;
};

enum class outcome_kind { sent, transient, permanent };

// The step of a delivery at which an outcome was decided.
enum class phase : std::uint8_t {
  local,   // before or without a server: configuration, the envelope, a wait cancelled
  resolve, // the relay's address (system resolver), or the recipient domain's MX (dispatch)
  connect,
  tls, // the TLS handshake (implicit TLS, or after STARTTLS)
  greeting,
  ehlo,
  helo,
  starttls,
  auth,
  mail,
  rcpt,
  data, // the DATA command
  body, // writing the message
  dot,  // the final dot and its reply
  rset,
  quit,
};
// The words errors use for it: "greeting", "EHLO", "RCPT", "message body", "end of data"...
std::string_view to_string(phase p);

// What a failure is about.
enum class failure_scope : std::uint8_t {
  none,      // sent
  site,      // the server or the way to it, before any transaction (up to AUTH)
  message,   // this message's transaction (MAIL, DATA, the body, the dot) or a local refusal
  recipient, // the recipients (RCPT): each recipient_result says its own
};
failure_scope scope_of(phase p);

// What became of one envelope recipient (Postfix's smtp_rcpt.c).
struct recipient_result {
  std::string address;
  outcome_kind kind = outcome_kind::transient;
  // The reply that decided it: the RCPT reply when the recipient was refused; otherwise the
  // reply that decided the message (final dot, DATA, MAIL...); code 0 when there was none.
  // Carries the enhanced status code (reply::enhanced) when the server sent one.
  reply last;
};

// The result of one send().
//
// `kind`, `last` and `error` describe the message as a whole, as before:
//   sent       the server took responsibility for it (2xx after the final dot) for AT LEAST ONE
//              recipient; `error` is empty;
//   transient  nobody got it, and trying again later may work (4xx, I/O error, timeout, 421);
//   permanent  nobody got it, and retrying the same content will fail again (5xx, or a local
//              refusal: SIZE over the server's limit, 8-bit content or a UTF-8 local part the
//              server cannot take (5.6.7), bad envelope, AUTH refused...).
// When every recipient was refused at RCPT, the message is transient if any refusal was 4xx
// (`last` the first 4xx), else permanent (`last` the first 5xx), and the body is not sent.
//
// `recipients` has one entry per envelope recipient, in envelope order, whatever happened.
// Partial acceptance (some RCPT 2xx, some 4xx/5xx) sends the message to the accepted ones:
// the outcome is then `sent`, the accepted recipients are `sent`, and each refused one carries
// its own kind and RCPT reply. A caller that retries must retry only the `transient`
// recipients, or the accepted ones receive the message twice.
struct outcome {
  outcome_kind kind = outcome_kind::transient;
  smtp::phase at = phase::local;             // where it was decided
  failure_scope scope = failure_scope::none; // what a failure is about (scope_of(at))
  reply last; // the reply that decided it (code 0 when none: connection or timeout)
  // Local description, for people: "connect: Connection refused", "timeout in RCPT", ...
  // Nothing decides on its wording: `kind`, `at`, `scope` and `last` are the data.
  std::string error;
  std::vector<recipient_result> recipients;

  // Some recipients got the message and some were refused.
  bool partial() const {
    if (kind != outcome_kind::sent) return false;
    for (const auto& r : recipients)
      if (r.kind != outcome_kind::sent) return true;
    return false;
  }
};

// The caller's hold on the final dot, for it to record durably that the message may be
// delivered from now on (at_most_once), with that record's commit overlapping the transaction:
//   start    (optional) runs when a mail transaction begins, before MAIL FROM is written; it
//            only starts the caller's work (it must not block), and may run more than once
//            for one send (a retried dead connection, several domains): the caller keeps the
//            first.
//   confirm  runs once the whole body is with the server, right before the final dot: the dot
//            is written only when it returns true. On false the connection is closed without
//            the dot (the server drops the transaction) and the outcome is transient.
// A transaction refused before its body (MAIL, every RCPT, DATA) ran `start` but not `confirm`.
struct dot_gate {
  std::function<void()> start;
  std::function<boost::asio::awaitable<bool>()> confirm;
};

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

  // Delivers one message (not dot-stuffed) to every recipient. The outcome is decided where
  // the reply is read: 2xx sent, 4xx/connection/timeout transient, 5xx permanent (see
  // `outcome`). Never throws for network or protocol failures.
  //
  // Extensions, when the server offers them: PIPELINING (RFC 2920: MAIL, every RCPT and DATA
  // in one write, replies matched in order), SIZE (RFC 1870: SIZE= sent; a message over the
  // server's limit is refused before MAIL, permanent), 8BITMIME (BODY=8BITMIME when the
  // message has a byte >= 0x80; such a message to a server without 8BITMIME is permanent: we
  // do not downgrade), SMTPUTF8 (RFC 6531: a non-ASCII envelope address, or UTF-8 in the
  // header, adds the SMTPUTF8 parameter, addresses as given, U-labels; without the extension,
  // domains go in A-labels, and an address with a UTF-8 local part, which has no ASCII form, is
  // refused before MAIL: a recipient alone (permanent, enhanced 5.6.7 in its recipient_result;
  // the others are delivered), the sender for the whole message).
  // Content safety, whatever the caller gives: bare CR and bare LF become CRLF (no
  // <LF>.<LF> or <CR>.<CR> can reach the server), dot-stuffing, and a line longer than 998
  // octets is broken by inserting CRLF SP (as Postfix's smtp_line_length_limit does).
  // `message` must stay alive and unchanged until the returned awaitable completes: the body
  // is written from it without a copy.
  // `dot` (optional): see dot_gate.
  boost::asio::awaitable<outcome> send(const envelope& env, std::string_view message,
                                       const dot_gate* dot = nullptr);

  // Probes the relay once (connect, greeting, EHLO, QUIT); for start-up checks.
  // With TLS or a user configured, STARTTLS (or implicit TLS) and AUTH are done too, so a bad
  // certificate or password shows at start-up; the probe does not use a pool slot.
  boost::asio::awaitable<outcome> probe();

  // What in `cfg` stops every send before any connection (a CA file that cannot be loaded
  // when certificates are verified, an invalid helo_name); empty when nothing does. The
  // daemon refuses such a configuration at start (exit 2) instead of deferring forever.
  static std::string config_problem(const relay_config& cfg);

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
