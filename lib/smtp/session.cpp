// The SMTP session state machine: one connection, each step one co_await with its own deadline.
#include "smtp/session.hpp"

#include <span>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "smtp/intl.hpp"
#include "smtp/outcome.hpp"
#include "smtp/protocol.hpp"
#include "smtp/transaction.hpp"

namespace iaposte::smtp {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Wipes a buffer that held a secret before it is freed.
void wipe(std::string& s) {
  volatile char* p = s.data();
  for (std::size_t i = 0; i < s.size(); ++i)
    p[i] = 0;
  s.clear();
}

} // namespace

session::session(asio::any_io_executor ex, std::shared_ptr<const relay_config> cfg,
                 std::shared_ptr<asio::ssl::context> tls_ctx)
    : cfg_(std::move(cfg)), tls_ctx_(std::move(tls_ctx)), stream_(ex, *tls_ctx_), timer_(ex) {}

session::~session() {
  close();
}

void session::close() {
  usable_ = false;
  error_code ignored;
  auto& sock = stream_.next_layer();
  if (sock.is_open()) {
    sock.shutdown(tcp::socket::shutdown_both, ignored);
    sock.close(ignored);
  }
}

outcome session::fail(outcome o) {
  close();
  return o;
}

outcome session::refuse(phase at, reply r) {
  // A 4xx or 5xx leaves the session in a known state (RFC 5321 §4.1.4), except 421, which
  // announces the server is closing (§3.8). Anything else is out of sequence: we no longer
  // know what the server thinks, so the connection is not reused.
  bool known_state = (r.transient() || r.permanent()) && !r.closing();
  outcome o = classify::rejected(at, std::move(r));
  if (!known_state) close();
  return o;
}

void session::arm(clock::time_point deadline) {
  deadline_ = deadline;
  timed_out_ = false;
  if (deadline < timer_at_) {
    timer_at_ = deadline;
    timer_.expires_at(deadline); // aborts the wait set for a later time
    wait_timer();
  }
}

void session::wait_timer() {
  timer_.async_wait([this, alive = std::weak_ptr<char>(alive_)](const error_code& ec) {
    if (ec || alive.expired()) return; // superseded by a nearer deadline, or destroyed
    on_timer();
  });
}

void session::on_timer() {
  timer_at_ = clock::time_point::max();
  if (deadline_ == clock::time_point::max()) return; // nothing in progress: sleep
  if (clock::now() >= deadline_) {
    // cancel(), not close(): the failing operation reports it and its caller closes; a timer
    // that fires just after the operation completed harms nothing.
    timed_out_ = true;
    deadline_ = clock::time_point::max();
    error_code ignored;
    stream_.next_layer().cancel(ignored);
    return;
  }
  timer_at_ = deadline_; // the deadline moved later since the timer was set
  timer_.expires_at(deadline_);
  wait_timer();
}

awaitable<std::optional<outcome>> session::write(std::string_view bytes, phase at,
                                                 clock::time_point deadline) {
  auto buf = asio::buffer(bytes.data(), bytes.size());
  arm(deadline);
  // GCC 12 mis-handles co_await inside ?: (temporaries destroyed twice): choose the
  // operation first, then await it.
  auto op = tls_active_ ? asio::async_write(stream_, buf, use_tuple)
                        : asio::async_write(stream_.next_layer(), buf, use_tuple);
  auto [ec, n] = co_await std::move(op);
  disarm();
  if (ec)
    co_return fail(timed_out_ ? classify::timeout_writing(at) : classify::write_error(at, ec));
  co_return std::nullopt;
}

awaitable<std::optional<outcome>> session::write_payload(bool hold_dot) {
  const auto block = phase_timeout(cfg_->data_block_timeout, cfg_->data_timeout);
  // Few pieces (the usual composed message: itself and the terminator) go as one writev;
  // many (a body full of bare LFs) are gathered into one buffer first, and TLS writes one
  // record per buffer anyway.
  // hold_dot: everything but the final ".\r\n" (the last piece ends with it).
  const std::size_t held = hold_dot ? protocol::lone_dot.size() : 0;
  auto piece_at = [&](std::size_t i) {
    auto piece = payload_.pieces[i];
    return i + 1 == payload_.pieces.size() ? piece.substr(0, piece.size() - held) : piece;
  };
  wbufs_.clear();
  if (payload_.pieces.size() <= 16 && !tls_active_) {
    for (std::size_t i = 0; i < payload_.pieces.size(); ++i)
      if (auto piece = piece_at(i); !piece.empty()) wbufs_.emplace_back(piece.data(), piece.size());
  } else {
    out_.clear();
    out_.reserve(payload_.wire_size);
    for (std::size_t i = 0; i < payload_.pieces.size(); ++i)
      out_.append(piece_at(i));
    wbufs_.emplace_back(out_.data(), out_.size());
  }
  auto progress = [this, block](const error_code& ec, std::size_t) -> std::size_t {
    if (ec) return 0;
    deadline_ = clock::now() + block; // later than before: the timer catches up lazily
    return 65536;
  };
  arm(clock::now() + block);
  // A span, not the vector: Asio copies the buffer sequence into the operation, twice.
  std::span<const asio::const_buffer> bufs(wbufs_);
  auto op = tls_active_ ? asio::async_write(stream_, bufs, progress, use_tuple)
                        : asio::async_write(stream_.next_layer(), bufs, progress, use_tuple);
  auto [ec, n] = co_await std::move(op);
  disarm();
  if (ec)
    co_return fail(timed_out_ ? classify::timeout_writing(phase::body)
                              : classify::write_error(phase::body, ec));
  co_return std::nullopt;
}

// Replies are read into one buffer per session and fed to the parser; bytes after a complete
// reply stay buffered for the next one (a pipelining server may send several at once).
awaitable<session::chat_result> session::read_reply(phase at, clock::time_point deadline) {
  chat_result out;
  for (;;) {
    if (rpos_ < rlen_) {
      std::size_t used = 0;
      auto st = parser_.feed({rbuf_.data() + rpos_, rlen_ - rpos_}, used);
      rpos_ += used;
      if (st == reply_parser::state::complete) {
        out.r = parser_.take();
        if (out.r.closing()) close(); // RFC 5321 §3.8: the server is closing the channel
        co_return out;
      }
      if (st == reply_parser::state::error) {
        out.failure = fail(classify::malformed(at, parser_.error()));
        co_return out;
      }
    }
    rpos_ = rlen_ = 0;
    auto buf = asio::buffer(rbuf_);
    arm(deadline);
    auto op = tls_active_ ? stream_.async_read_some(buf, use_tuple)
                          : stream_.next_layer().async_read_some(buf, use_tuple);
    auto [ec, n] = co_await std::move(op);
    disarm();
    if (ec) {
      out.failure = fail(timed_out_ ? classify::timeout_reading(at) : classify::read_error(at, ec));
      co_return out;
    }
    rlen_ = n;
  }
}

awaitable<session::chat_result> session::chat(std::string_view command, phase at) {
  auto deadline = clock::now() + cfg_->command_timeout;
  if (auto f = co_await write(command, at, deadline)) co_return chat_result{{}, std::move(f)};
  co_return co_await read_reply(at, deadline);
}

awaitable<std::optional<outcome>> session::connect(clock::time_point deadline) {
  auto& sock = stream_.next_layer();
  const std::string where = cfg_->host + ":" + std::to_string(cfg_->port);
  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  auto literal = asio::ip::make_address(cfg_->host, ec);
  if (!ec) {
    endpoints.emplace_back(literal, cfg_->port);
  } else {
    // getaddrinfo cannot be interrupted: resolution is bounded by the system resolver's own
    // timeouts (resolv.conf), not by connect_timeout.
    tcp::resolver resolver(co_await asio::this_coro::executor);
    auto [rec, results] =
        co_await resolver.async_resolve(cfg_->host, std::to_string(cfg_->port), use_tuple);
    if (rec)
      co_return classify::local_transient("resolve " + cfg_->host + ": " + rec.message(),
                                          phase::resolve);
    for (const auto& e : results)
      endpoints.push_back(e.endpoint());
  }
  // One endpoint after the other, all under the one deadline.
  error_code cec = asio::error::host_not_found;
  arm(deadline);
  for (const auto& ep : endpoints) {
    if (sock.is_open()) sock.close(ec);
    std::tie(cec) = co_await sock.async_connect(ep, use_tuple);
    if (!cec || timed_out_) break;
  }
  disarm();
  if (timed_out_)
    co_return fail(classify::local_transient("timeout connecting to " + where, phase::connect));
  if (cec)
    co_return fail(
        classify::local_transient("connect " + where + ": " + cec.message(), phase::connect));
  sock.set_option(tcp::no_delay(true), ec);
  usable_ = true;
  co_return std::nullopt;
}

awaitable<std::optional<outcome>> session::handshake(clock::time_point deadline) {
  std::string error;
  if (!tls::prepare(stream_, cfg_->host, tls::verifies(*cfg_), error))
    co_return fail(classify::local_transient(std::move(error), phase::tls));
  arm(deadline);
  auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::client, use_tuple);
  disarm();
  if (timed_out_) co_return fail(classify::local_transient("timeout in TLS handshake", phase::tls));
  if (ec)
    co_return fail(
        classify::local_transient(tls::describe_handshake_error(stream_, ec), phase::tls));
  tls_active_ = true;
  co_return std::nullopt;
}

awaitable<std::optional<outcome>> session::hello() {
  auto e = co_await chat(protocol::ehlo(cfg_->helo_name), phase::ehlo);
  if (e.failure) co_return std::move(e.failure);
  if (e.r.completion()) {
    caps_ = parse_ehlo(e.r);
    co_return std::nullopt;
  }
  if (!e.r.permanent()) co_return refuse(phase::ehlo, std::move(e.r));
  // RFC 5321 §3.2: a server that does not support EHLO answers 5xx; HELO then, and no
  // extensions.
  caps_ = {};
  auto h = co_await chat(protocol::helo(cfg_->helo_name), phase::helo);
  if (h.failure) co_return std::move(h.failure);
  if (!h.r.completion()) co_return refuse(phase::helo, std::move(h.r));
  co_return std::nullopt;
}

awaitable<std::optional<outcome>> session::starttls() {
  const bool required = cfg_->tls == tls_mode::required;
  if (!caps_.starttls) {
    // Not a silent downgrade: a relay that must be reached over TLS and does not offer it is
    // a configuration problem retrying will not fix.
    if (required)
      co_return classify::local_permanent("STARTTLS required but not offered by " + cfg_->host +
                                              ":" + std::to_string(cfg_->port),
                                          phase::starttls);
    co_return std::nullopt;
  }
  auto r = co_await chat(protocol::starttls, phase::starttls);
  if (r.failure) co_return std::move(r.failure);
  if (r.r.code != 220) {
    // Opportunistic: a refused STARTTLS leaves a plaintext session in a known state; go on.
    if (!required && (r.r.transient() || r.r.permanent()) && !r.r.closing()) co_return std::nullopt;
    co_return refuse(phase::starttls, std::move(r.r));
  }
  // RFC 3207 §5, CVE-2011-0411: anything the server sent after its 220 was written before the
  // handshake and must not be read as if it came through TLS.
  rpos_ = rlen_ = 0;
  if (auto f = co_await handshake(clock::now() + cfg_->command_timeout)) co_return f;
  // RFC 3207 §4.2: forget what was learned before TLS and ask again.
  co_return co_await hello();
}

awaitable<std::optional<outcome>> session::authenticate() {
  if (!tls_active_ && !cfg_->allow_plaintext_auth)
    co_return classify::local_permanent("AUTH refused: connection not encrypted", phase::auth);
  if (!cfg_->oauth2_token.empty()) {
    // A token configured means XOAUTH2 and nothing else: the password, if any, is not a
    // fallback the operator asked for.
    if (!caps_.auth_xoauth2)
      co_return classify::local_permanent(
          "AUTH: XOAUTH2 configured but not offered by " + cfg_->host, phase::auth);
    std::string command = protocol::auth_xoauth2(cfg_->user, cfg_->oauth2_token);
    auto r = co_await chat(command, phase::auth);
    wipe(command);
    if (r.failure) co_return std::move(r.failure);
    if (r.r.code == 334) {
      // The token was refused: the 334 carries a base64 JSON status, the client answers with an
      // empty line and the server then sends its final 4xx/5xx (Google's XOAUTH2 protocol).
      r = co_await chat(protocol::auth_cancel_challenge, phase::auth);
      if (r.failure) co_return std::move(r.failure);
    }
    if (r.r.code != 235) co_return refuse(phase::auth, std::move(r.r));
    co_return std::nullopt;
  }
  if (caps_.auth_plain) {
    std::string command = protocol::auth_plain(cfg_->user, cfg_->password);
    auto r = co_await chat(command, phase::auth);
    wipe(command);
    if (r.failure) co_return std::move(r.failure);
    if (r.r.code != 235) co_return refuse(phase::auth, std::move(r.r));
    co_return std::nullopt;
  }
  if (caps_.auth_login) {
    // RFC 4954 §4 with the LOGIN mechanism: the server prompts for the user name, then the
    // password, each with a 334.
    auto r = co_await chat(protocol::auth_login, phase::auth);
    for (const std::string* secret : {&cfg_->user, &cfg_->password}) {
      if (r.failure) co_return std::move(r.failure);
      if (r.r.code != 334) co_return refuse(phase::auth, std::move(r.r));
      std::string answer = protocol::auth_login_answer(*secret);
      r = co_await chat(answer, phase::auth);
      wipe(answer);
    }
    if (r.failure) co_return std::move(r.failure);
    if (r.r.code != 235) co_return refuse(phase::auth, std::move(r.r));
    co_return std::nullopt;
  }
  co_return classify::local_permanent("AUTH: the server offers neither PLAIN nor LOGIN",
                                      phase::auth);
}

awaitable<std::optional<outcome>> session::open() {
  // connect_timeout covers what happens before the server speaks: connect, the implicit TLS
  // handshake and the greeting.
  const auto deadline = clock::now() + cfg_->connect_timeout;
  if (auto f = co_await connect(deadline)) co_return f;
  if (cfg_->tls == tls_mode::implicit)
    if (auto f = co_await handshake(deadline)) co_return f;

  // RFC 5321 §4.5.3.2.1: the greeting has its own timeout, counted from the connection.
  const auto greeting_deadline =
      cfg_->greeting_timeout.count() > 0 ? clock::now() + cfg_->greeting_timeout : deadline;
  auto g = co_await read_reply(phase::greeting, greeting_deadline);
  if (g.failure) co_return std::move(g.failure);
  if (g.r.code != 220) co_return refuse(phase::greeting, std::move(g.r));
  greeting_ = std::move(g.r);

  if (auto f = co_await hello()) co_return f;
  if (cfg_->tls == tls_mode::opportunistic || cfg_->tls == tls_mode::required)
    if (auto f = co_await starttls()) co_return f;
  if (!cfg_->user.empty())
    if (auto f = co_await authenticate()) co_return f;
  co_return std::nullopt;
}

std::optional<outcome> session::check_extensions(protocol::mail_params& params) {
  // RFC 1870 §6.1: the size as the server will count it; a message over the announced limit
  // would be refused with 552 after transferring it: refuse it here, permanently.
  if (caps_.size_offered) {
    params.size = payload_.message_size;
    if (caps_.size > 0 && payload_.message_size > caps_.size)
      return classify::local_permanent(
          "message too large for the server: " + std::to_string(payload_.message_size) +
              " bytes, SIZE limit " + std::to_string(caps_.size),
          phase::mail);
  }
  // 8-bit content to a server without 8BITMIME (RFC 6152 §3): we do not downgrade (that is
  // MIME's job, and lib/mime composes 7-bit); the same server would refuse again, so permanent.
  if (payload_.eight_bit) {
    if (!caps_.eightbitmime)
      return classify::local_permanent(
          "message has 8-bit content but the server does not offer 8BITMIME", phase::mail);
    params.body_8bitmime = true;
  }
  // Internationalised addresses (SMTPUTF8): intl::for_server(), in deliver().
  return std::nullopt;
}

// RFC 2920: [RSET] MAIL, every RCPT and DATA in one write, then the replies in order. Each
// reply has its phase's timeout, counted from the previous reply.
awaitable<std::optional<outcome>> session::pipelined_group(const envelope& env, bool reused,
                                                           reply& mail) {
  const auto mail_to = phase_timeout(cfg_->mail_timeout, cfg_->command_timeout);
  const auto rcpt_to = phase_timeout(cfg_->rcpt_timeout, cfg_->command_timeout);
  const auto data_to = phase_timeout(cfg_->data_start_timeout, cfg_->command_timeout);
  if (auto f = co_await write(out_, phase::mail, clock::now() + mail_to)) {
    lost_before_mail_ = true;
    co_return f;
  }
  if (reused) {
    auto r = co_await read_reply(phase::rset, clock::now() + cfg_->command_timeout);
    if (r.failure) {
      lost_before_mail_ = true;
      co_return std::move(r.failure);
    }
    if (!r.r.completion()) {
      lost_before_mail_ = true;
      co_return fail(classify::rejected(phase::rset, std::move(r.r)));
    }
  }
  auto m = co_await read_reply(phase::mail, clock::now() + mail_to);
  if (m.failure || m.r.closing()) lost_before_mail_ = true;
  if (m.failure) co_return std::move(m.failure);
  mail = std::move(m.r);
  if (mail.closing()) co_return std::nullopt; // closed; judge() says so
  for (std::size_t i = 0; i < env.rcpt_to.size(); ++i) {
    auto r = co_await read_reply(phase::rcpt, clock::now() + rcpt_to);
    if (r.failure) co_return std::move(r.failure);
    rcpt_replies_.push_back(std::move(r.r));
    if (rcpt_replies_.back().closing()) co_return std::nullopt;
  }
  co_return std::nullopt;
}

// One command, one reply (no PIPELINING): stops at the first reply that decides.
awaitable<std::optional<outcome>> session::stepwise_group(const envelope& env, bool reused,
                                                          reply& mail) {
  const auto mail_to = phase_timeout(cfg_->mail_timeout, cfg_->command_timeout);
  const auto rcpt_to = phase_timeout(cfg_->rcpt_timeout, cfg_->command_timeout);
  if (reused) {
    auto r = co_await chat(protocol::rset, phase::rset);
    if (r.failure || !r.r.completion()) {
      lost_before_mail_ = true;
      if (r.failure) co_return std::move(r.failure);
      co_return fail(classify::rejected(phase::rset, std::move(r.r)));
    }
  }
  out_.clear();
  protocol::append_mail_from(out_, env.mail_from, mail_params_);
  auto m = co_await write(out_, phase::mail, clock::now() + mail_to);
  chat_result mr;
  if (!m) mr = co_await read_reply(phase::mail, clock::now() + mail_to);
  if (m || mr.failure || mr.r.closing()) lost_before_mail_ = true;
  if (m) co_return m;
  if (mr.failure) co_return std::move(mr.failure);
  mail = std::move(mr.r);
  if (!mail.completion()) co_return std::nullopt;
  for (const auto& rcpt : env.rcpt_to) {
    out_.clear();
    protocol::append_rcpt_to(out_, rcpt);
    if (auto f = co_await write(out_, phase::rcpt, clock::now() + rcpt_to)) co_return f;
    auto r = co_await read_reply(phase::rcpt, clock::now() + rcpt_to);
    if (r.failure) co_return std::move(r.failure);
    rcpt_replies_.push_back(std::move(r.r));
    if (rcpt_replies_.back().closing()) break;
  }
  co_return std::nullopt;
}

awaitable<outcome> session::deliver(const envelope& env, std::string_view message, bool reused,
                                    const dot_gate* dot) {
  lost_before_mail_ = false;
  payload_.build(message);
  mail_params_ = {};
  if (auto refused = check_extensions(mail_params_)) co_return std::move(*refused);
  // RFC 6531 §3.4: UTF-8 in the header (RFC 6532 addresses) asks for SMTPUTF8 where offered.
  // Where it is not, such a message still goes with BODY=8BITMIME, as Postfix sends one that
  // was not flagged SMTPUTF8; only what has no ASCII form at all (a UTF-8 local part in the
  // envelope) is refused below.
  const bool utf8_header = caps_.smtputf8 && protocol::has_8bit(protocol::header_block(message));
  if (!intl::needed(env)) {
    mail_params_.smtputf8 = utf8_header;
    co_return co_await transact(env, env.rcpt_to, reused, dot);
  }
  // The form of each address depends on this server, known only now: decided here.
  plan_ = intl::for_server(env, caps_.smtputf8);
  if (plan_.failure) co_return std::move(*plan_.failure);
  mail_params_.smtputf8 = plan_.smtputf8 || utf8_header;
  outcome o;
  if (plan_.wire.rcpt_to.empty()) {
    o = intl::all_refused(plan_);
  } else {
    o = co_await transact(plan_.wire, plan_.names, reused, dot);
    transaction::settle(o, plan_.names);
  }
  intl::merge(o, plan_);
  co_return o;
}

awaitable<outcome> session::transact(const envelope& env, std::span<const std::string> names,
                                     bool reused, const dot_gate* dot) {
  ++transactions_;
  rcpt_replies_.clear();
  if (dot && dot->start) dot->start(); // the caller's record runs while the commands do

  const bool pipelining = caps_.pipelining;
  reply mail;
  if (pipelining) {
    out_.clear();
    if (reused) out_.append(protocol::rset);
    protocol::append_mail_from(out_, env.mail_from, mail_params_);
    for (const auto& rcpt : env.rcpt_to)
      protocol::append_rcpt_to(out_, rcpt);
    out_.append(protocol::data);
  }
  std::optional<outcome> failed;
  if (pipelining)
    failed = co_await pipelined_group(env, reused, mail);
  else
    failed = co_await stepwise_group(env, reused, mail);
  if (failed) co_return std::move(*failed);

  std::vector<recipient_result> recipients;
  std::optional<reply> data;
  // With PIPELINING the DATA reply follows the RCPT replies, unless a 421 ended the group.
  bool ended = mail.closing() || (!rcpt_replies_.empty() && rcpt_replies_.back().closing());
  if (pipelining && !ended) {
    auto d = co_await read_reply(
        phase::data, clock::now() + phase_timeout(cfg_->data_start_timeout, cfg_->command_timeout));
    if (d.failure) co_return std::move(*d.failure);
    data = std::move(d.r);
  }
  auto v = transaction::judge(mail, rcpt_replies_, data ? &*data : nullptr, names, recipients);
  if (v.action == transaction::next::send_data) {
    const auto deadline =
        clock::now() + phase_timeout(cfg_->data_start_timeout, cfg_->command_timeout);
    if (auto f = co_await write(protocol::data, phase::data, deadline)) co_return std::move(*f);
    auto d = co_await read_reply(phase::data, deadline);
    if (d.failure) co_return std::move(*d.failure);
    data = std::move(d.r);
    v = transaction::judge(mail, rcpt_replies_, &*data, names, recipients);
  }

  const auto final_to = phase_timeout(cfg_->final_dot_timeout, cfg_->data_timeout);
  outcome o;
  switch (v.action) {
  case transaction::next::send_data: // judge() never asks twice; a bug if it does
    close();
    o = classify::local_transient("internal error: DATA asked for twice", phase::data);
    break;
  case transaction::next::close:
    close();
    o = std::move(*v.result);
    break;
  case transaction::next::rset:
    co_await reset(); // a failed RSET closes the session; the outcome stays the refusal
    o = std::move(*v.result);
    break;
  case transaction::next::lone_dot: {
    // The server said 354 although nobody is to receive the message (RFC 2920 §3.1): end the
    // transaction with the terminator alone; its reply does not change the outcome.
    auto w = co_await write(protocol::lone_dot, phase::dot, clock::now() + final_to);
    if (!w) (void)co_await read_reply(phase::dot, clock::now() + final_to);
    o = std::move(*v.result);
    break;
  }
  case transaction::next::send_body: {
    const bool hold_dot = dot && dot->confirm;
    if (auto f = co_await write_payload(hold_dot)) {
      o = std::move(*f);
      break;
    }
    if (hold_dot) {
      // The body is with the server; the caller's word, then the final dot.
      if (!co_await dot->confirm()) {
        close(); // no dot: the server discards the transaction
        o = classify::local_transient("not sent: the attempt was not recorded in time", phase::dot);
        break;
      }
      if (auto f = co_await write(protocol::lone_dot, phase::dot, clock::now() + final_to)) {
        o = std::move(*f);
        break;
      }
    }
    auto e = co_await read_reply(phase::dot, clock::now() + final_to);
    if (e.failure)
      o = std::move(*e.failure);
    else if (e.r.completion())
      o = classify::sent(std::move(e.r));
    else
      o = refuse(phase::dot, std::move(e.r));
    break;
  }
  }
  o.recipients = std::move(recipients);
  transaction::settle(o, names);
  co_return o;
}

awaitable<bool> session::reset() {
  if (!usable_) co_return false;
  auto r = co_await chat(protocol::rset, phase::rset);
  if (r.failure) co_return false;
  if (!r.r.completion()) {
    close();
    co_return false;
  }
  co_return true;
}

awaitable<void> session::quit() {
  if (usable_) co_await chat(protocol::quit, phase::quit); // the reply does not matter
  close();
}

} // namespace iaposte::smtp
