// The SMTP session state machine: one connection, each step one co_await with its own deadline.
#include "smtp/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "smtp/outcome.hpp"
#include "smtp/protocol.hpp"

namespace iaposte::smtp {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Races `op` against the session timer: the value of `op`, or nullopt when the deadline came
// first (the operation is then cancelled and the caller closes the connection).
template <typename T>
awaitable<std::optional<T>> before(asio::steady_timer& timer, session::clock::time_point deadline,
                                   awaitable<T> op) {
  using namespace asio::experimental::awaitable_operators;
  timer.expires_at(deadline);
  auto r = co_await (std::move(op) || timer.async_wait(use_tuple));
  if (r.index() == 0) co_return std::get<0>(std::move(r));
  co_return std::nullopt;
}

bool is_2xx(const reply& r) {
  return r.code >= 200 && r.code < 300;
}

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

outcome session::refuse(std::string_view phase, reply r) {
  // A 4xx or 5xx leaves the session in a known state (RFC 5321 §4.1.4), except 421, which
  // announces the server is closing (§3.8). Anything else is out of sequence: we no longer
  // know what the server thinks, so the connection is not reused.
  bool known_state = (r.transient() || r.permanent()) && r.code != 421;
  outcome o = classify::rejected(phase, std::move(r));
  if (!known_state) close();
  return o;
}

awaitable<std::optional<outcome>> session::write(std::string_view bytes, std::string_view phase,
                                                 clock::time_point deadline) {
  auto buf = asio::buffer(bytes.data(), bytes.size());
  auto op = tls_active_ ? asio::async_write(stream_, buf, use_tuple)
                        : asio::async_write(stream_.next_layer(), buf, use_tuple);
  auto r = co_await before(timer_, deadline, std::move(op));
  if (!r) co_return fail(classify::timeout_writing(phase));
  if (auto [ec, n] = *r; ec) co_return fail(classify::write_error(phase, ec));
  co_return std::nullopt;
}

// Replies are read into one buffer per session and fed to the parser; bytes after a complete
// reply stay buffered for the next one (a pipelining server may send several at once).
awaitable<session::chat_result> session::read_reply(std::string_view phase,
                                                    clock::time_point deadline) {
  chat_result out;
  for (;;) {
    if (rpos_ < rlen_) {
      std::size_t used = 0;
      auto st = parser_.feed({rbuf_.data() + rpos_, rlen_ - rpos_}, used);
      rpos_ += used;
      if (st == reply_parser::state::complete) {
        out.r = parser_.take();
        if (out.r.code == 421) close(); // RFC 5321 §3.8: the server is closing the channel
        co_return out;
      }
      if (st == reply_parser::state::error) {
        out.failure = fail(classify::malformed(phase, parser_.error()));
        co_return out;
      }
    }
    rpos_ = rlen_ = 0;
    auto buf = asio::buffer(rbuf_);
    auto op = tls_active_ ? stream_.async_read_some(buf, use_tuple)
                          : stream_.next_layer().async_read_some(buf, use_tuple);
    auto r = co_await before(timer_, deadline, std::move(op));
    if (!r) {
      out.failure = fail(classify::timeout_reading(phase));
      co_return out;
    }
    auto [ec, n] = *r;
    if (ec) {
      out.failure = fail(classify::read_error(phase, ec));
      co_return out;
    }
    rlen_ = n;
  }
}

awaitable<session::chat_result> session::chat(std::string_view command, std::string_view phase) {
  auto deadline = clock::now() + cfg_->command_timeout;
  if (auto f = co_await write(command, phase, deadline)) co_return chat_result{{}, std::move(f)};
  co_return co_await read_reply(phase, deadline);
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
    if (rec) co_return classify::local_transient("resolve " + cfg_->host + ": " + rec.message());
    for (const auto& e : results)
      endpoints.push_back(e.endpoint());
  }
  auto r = co_await before(timer_, deadline, asio::async_connect(sock, endpoints, use_tuple));
  if (!r) co_return fail(classify::local_transient("timeout connecting to " + where));
  if (auto& [cec, ep] = *r; cec)
    co_return fail(classify::local_transient("connect " + where + ": " + cec.message()));
  sock.set_option(tcp::no_delay(true), ec);
  usable_ = true;
  co_return std::nullopt;
}

awaitable<std::optional<outcome>> session::handshake(clock::time_point deadline) {
  std::string error;
  if (!tls::prepare(stream_, cfg_->host, tls::verifies(*cfg_), error))
    co_return fail(classify::local_transient(std::move(error)));
  auto r = co_await before(timer_, deadline,
                           stream_.async_handshake(asio::ssl::stream_base::client, use_tuple));
  if (!r) co_return fail(classify::local_transient("timeout in TLS handshake"));
  if (auto [ec] = *r; ec)
    co_return fail(classify::local_transient(tls::describe_handshake_error(stream_, ec)));
  tls_active_ = true;
  co_return std::nullopt;
}

awaitable<std::optional<outcome>> session::hello() {
  auto e = co_await chat(protocol::ehlo(cfg_->helo_name), "EHLO");
  if (e.failure) co_return std::move(e.failure);
  if (is_2xx(e.r)) {
    caps_ = parse_ehlo(e.r);
    co_return std::nullopt;
  }
  if (!e.r.permanent()) co_return refuse("EHLO", std::move(e.r));
  // RFC 5321 §3.2: a server that does not support EHLO answers 5xx; HELO then, and no
  // extensions.
  caps_ = {};
  auto h = co_await chat(protocol::helo(cfg_->helo_name), "HELO");
  if (h.failure) co_return std::move(h.failure);
  if (!is_2xx(h.r)) co_return refuse("HELO", std::move(h.r));
  co_return std::nullopt;
}

awaitable<std::optional<outcome>> session::starttls() {
  const bool required = cfg_->tls == tls_mode::required;
  if (!caps_.starttls) {
    // Not a silent downgrade: a relay that must be reached over TLS and does not offer it is
    // a configuration problem retrying will not fix.
    if (required)
      co_return classify::local_permanent("STARTTLS required but not offered by " + cfg_->host +
                                          ":" + std::to_string(cfg_->port));
    co_return std::nullopt;
  }
  auto r = co_await chat(protocol::starttls, "STARTTLS");
  if (r.failure) co_return std::move(r.failure);
  if (r.r.code != 220) {
    // Opportunistic: a refused STARTTLS leaves a plaintext session in a known state; go on.
    if (!required && (r.r.transient() || r.r.permanent()) && r.r.code != 421)
      co_return std::nullopt;
    co_return refuse("STARTTLS", std::move(r.r));
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
    co_return classify::local_permanent("AUTH refused: connection not encrypted");
  if (caps_.auth_plain) {
    std::string command = protocol::auth_plain(cfg_->user, cfg_->password);
    auto r = co_await chat(command, "AUTH");
    wipe(command);
    if (r.failure) co_return std::move(r.failure);
    if (r.r.code != 235) co_return refuse("AUTH", std::move(r.r));
    co_return std::nullopt;
  }
  if (caps_.auth_login) {
    // RFC 4954 §4 with the LOGIN mechanism: the server prompts for the user name, then the
    // password, each with a 334.
    auto r = co_await chat(protocol::auth_login, "AUTH");
    for (const std::string* secret : {&cfg_->user, &cfg_->password}) {
      if (r.failure) co_return std::move(r.failure);
      if (r.r.code != 334) co_return refuse("AUTH", std::move(r.r));
      std::string answer = protocol::auth_login_answer(*secret);
      r = co_await chat(answer, "AUTH");
      wipe(answer);
    }
    if (r.failure) co_return std::move(r.failure);
    if (r.r.code != 235) co_return refuse("AUTH", std::move(r.r));
    co_return std::nullopt;
  }
  co_return classify::local_permanent("AUTH: the server offers neither PLAIN nor LOGIN");
}

awaitable<std::optional<outcome>> session::open() {
  // connect_timeout covers what happens before the server speaks: connect, the implicit TLS
  // handshake and the greeting.
  const auto deadline = clock::now() + cfg_->connect_timeout;
  if (auto f = co_await connect(deadline)) co_return f;
  if (cfg_->tls == tls_mode::implicit)
    if (auto f = co_await handshake(deadline)) co_return f;

  auto g = co_await read_reply("greeting", deadline);
  if (g.failure) co_return std::move(g.failure);
  if (g.r.code != 220) co_return refuse("greeting", std::move(g.r));
  greeting_ = std::move(g.r);

  if (auto f = co_await hello()) co_return f;
  if (cfg_->tls == tls_mode::opportunistic || cfg_->tls == tls_mode::required)
    if (auto f = co_await starttls()) co_return f;
  if (!cfg_->user.empty())
    if (auto f = co_await authenticate()) co_return f;
  co_return std::nullopt;
}

awaitable<outcome> session::deliver(const envelope& env, std::string_view message,
                                    const before_dot_fn* before_dot) {
  lost_before_mail_ = false;
  ++transactions_;

  auto m = co_await chat(protocol::mail_from(env.mail_from), "MAIL");
  if (m.failure || m.r.code == 421) lost_before_mail_ = true;
  if (m.failure) co_return std::move(*m.failure);
  if (!is_2xx(m.r)) co_return refuse("MAIL", std::move(m.r));

  // Skeleton scope: one outcome for the whole message. Any 4xx recipient defers it, else any
  // 5xx bounces it, and DATA is not sent. Per-recipient outcomes (send to the accepted ones,
  // report the others one by one, as Postfix's smtp_rcpt.c does) come with PIPELINING.
  std::optional<outcome> refused;
  for (const auto& rcpt : env.rcpt_to) {
    auto r = co_await chat(protocol::rcpt_to(rcpt), "RCPT");
    if (r.failure) co_return std::move(*r.failure);
    if (is_2xx(r.r)) continue;
    bool first_transient =
        r.r.transient() && (!refused || refused->kind != outcome_kind::transient);
    if (r.r.code == 421 || !(r.r.transient() || r.r.permanent()))
      co_return refuse("RCPT", std::move(r.r));
    if (!refused || first_transient) refused = refuse("RCPT", std::move(r.r));
  }
  if (refused) {
    co_await reset(); // a failed RSET closes the session; the outcome stays the RCPT one
    co_return std::move(*refused);
  }

  auto d = co_await chat(protocol::data, "DATA");
  if (d.failure) co_return std::move(*d.failure);
  if (d.r.code != 354) co_return refuse("DATA", std::move(d.r));

  const std::string payload = protocol::data_payload(message);
  if (before_dot && *before_dot) {
    // The body, then the caller's word, then the final dot (".\r\n" after the body's CRLF).
    std::string_view p(payload);
    std::string_view body = p.substr(0, p.size() - 3), dot = p.substr(p.size() - 3);
    if (auto f = co_await write(body, "message body", clock::now() + cfg_->data_timeout))
      co_return std::move(*f);
    if (!co_await (*before_dot)()) {
      close(); // no dot: the server discards the transaction
      co_return classify::local_transient("not sent: the attempt was not recorded in time");
    }
    if (auto f = co_await write(dot, "final dot", clock::now() + cfg_->data_timeout))
      co_return std::move(*f);
  } else if (auto f = co_await write(payload, "message body", clock::now() + cfg_->data_timeout)) {
    co_return std::move(*f);
  }
  auto e = co_await read_reply("end of data", clock::now() + cfg_->data_timeout);
  if (e.failure) co_return std::move(*e.failure);
  if (!is_2xx(e.r)) co_return refuse("end of data", std::move(e.r));
  co_return classify::sent(std::move(e.r));
}

awaitable<bool> session::reset() {
  if (!usable_) co_return false;
  auto r = co_await chat(protocol::rset, "RSET");
  if (r.failure) co_return false;
  if (!is_2xx(r.r)) {
    close();
    co_return false;
  }
  co_return true;
}

awaitable<void> session::quit() {
  if (usable_) co_await chat(protocol::quit, "QUIT"); // the reply does not matter
  close();
}

} // namespace iaposte::smtp
