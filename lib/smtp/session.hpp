// One SMTP connection as a linear coroutine story: connect to QUIT (internal to lib/smtp).
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "smtp/client.hpp"
#include "smtp/intl.hpp"
#include "smtp/protocol.hpp"
#include "smtp/reply.hpp"
#include "smtp/tls.hpp"

namespace iaposte::smtp {

// Every step has its own deadline and every failure comes back as an outcome, classified
// where the reply was read. After a failure that leaves the conversation in an unknown state
// (I/O error, timeout, malformed or out-of-sequence reply, 421) the socket is closed and
// usable() is false: the owner discards the session.
class session {
public:
  using clock = std::chrono::steady_clock;

  session(boost::asio::any_io_executor ex, std::shared_ptr<const relay_config> cfg,
          std::shared_ptr<boost::asio::ssl::context> tls_ctx);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // Connect, greeting, EHLO (HELO on 5xx), STARTTLS and EHLO again, AUTH. nullopt: ready.
  boost::asio::awaitable<std::optional<outcome>> open();

  // One mail transaction: MAIL, every RCPT, DATA (one write with PIPELINING), payload, final
  // dot. `reused`: the connection carried a message before; RSET first (in the same write with
  // PIPELINING), so that a connection the server dropped while idle shows before MAIL.
  // o.recipients is filled for the recipients whose RCPT reply decided them (see
  // transaction::settle for the rest). Internationalised addresses are written for this server
  // (intl::for_server): those it cannot take are decided here, in o.recipients, 5.6.7.
  // `dot` (optional): see client::send.
  boost::asio::awaitable<outcome> deliver(const envelope& env, std::string_view message,
                                          bool reused = false, const dot_gate* dot = nullptr);

  // RSET; false when the session is dead (closed).
  boost::asio::awaitable<bool> reset();

  // QUIT when still usable, then close. Never fails; bounded by command_timeout.
  boost::asio::awaitable<void> quit();

  void close();

  bool usable() const { return usable_; }
  bool encrypted() const { return tls_active_; }
  std::size_t transactions() const { return transactions_; }
  const capabilities& caps() const { return caps_; }
  const reply& greeting() const { return greeting_; }

  // The last deliver() found the connection gone before MAIL was accepted (I/O error or 421):
  // nothing reached the server, so the message may go out again on a fresh connection.
  bool lost_before_mail() const { return lost_before_mail_; }

  clock::time_point idle_since{};

private:
  struct chat_result {
    reply r;                        // meaningful when !failure
    std::optional<outcome> failure; // no reply: I/O error, timeout or malformed (transient)
  };

  boost::asio::awaitable<std::optional<outcome>> connect(clock::time_point deadline);
  boost::asio::awaitable<std::optional<outcome>> handshake(clock::time_point deadline);
  boost::asio::awaitable<std::optional<outcome>> hello();
  boost::asio::awaitable<std::optional<outcome>> starttls();
  boost::asio::awaitable<std::optional<outcome>> authenticate();

  boost::asio::awaitable<std::optional<outcome>> write(std::string_view bytes, phase at,
                                                       clock::time_point deadline);
  // The DATA payload as a gather write; each write that makes progress extends the deadline
  // by data_block_timeout (RFC 5321 §4.5.3.2.5).
  boost::asio::awaitable<std::optional<outcome>> write_payload(bool hold_dot = false);
  boost::asio::awaitable<chat_result> read_reply(phase at, clock::time_point deadline);
  // One command and its reply under one command_timeout (Postfix's smtp_chat_cmd/resp).
  boost::asio::awaitable<chat_result> chat(std::string_view command, phase at);

  outcome fail(outcome o);           // closes, returns o
  outcome refuse(phase at, reply r); // a reply other than the expected one

  // The transaction proper, for the envelope as written on the wire; `names`: the caller's
  // spelling of each env.rcpt_to, under which results are reported.
  boost::asio::awaitable<outcome> transact(const envelope& env, std::span<const std::string> names,
                                           bool reused, const dot_gate* dot);

  // Local refusals that depend on what this server offers (SIZE, 8BITMIME), decided before
  // anything is sent; fills `params`. Addresses are intl::for_server()'s.
  std::optional<outcome> check_extensions(protocol::mail_params& params);
  boost::asio::awaitable<std::optional<outcome>> pipelined_group(const envelope& env, bool reused,
                                                                 reply& mail);
  boost::asio::awaitable<std::optional<outcome>> stepwise_group(const envelope& env, bool reused,
                                                                reply& mail);

  // Deadlines: one timer per session, armed lazily. arm() before an operation, disarm() after;
  // when the deadline passes first, the socket's operations are cancelled and timed_out_ says
  // why they failed. No allocation and no timer syscall per operation in the common case
  // (the timer only moves when a deadline comes earlier than the one it waits for).
  void arm(clock::time_point deadline);
  void disarm() { deadline_ = clock::time_point::max(); }
  void wait_timer();
  void on_timer();
  clock::time_point deadline_ = clock::time_point::max();
  clock::time_point timer_at_ = clock::time_point::max();
  bool timed_out_ = false;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0); // guards timer handlers

  std::chrono::milliseconds phase_timeout(std::chrono::milliseconds specific,
                                          std::chrono::milliseconds fallback) const {
    return specific.count() > 0 ? specific : fallback;
  }

  std::shared_ptr<const relay_config> cfg_;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
  tls::stream stream_; // used through next_layer() until the TLS handshake
  boost::asio::steady_timer timer_;
  reply_parser parser_;
  std::array<char, 4096> rbuf_;
  std::size_t rpos_ = 0, rlen_ = 0;
  capabilities caps_;
  reply greeting_;
  bool tls_active_ = false;
  bool usable_ = false;
  bool lost_before_mail_ = false;
  std::size_t transactions_ = 0;

  // Reused from message to message: no allocation per message once warm.
  std::string out_;           // the command group
  protocol::payload payload_; // the body's pieces
  std::vector<boost::asio::const_buffer> wbufs_;
  std::vector<reply> rcpt_replies_;
  protocol::mail_params mail_params_;
  intl::plan plan_; // internationalised envelopes only
};

} // namespace iaposte::smtp
