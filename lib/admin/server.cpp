// The admin server's transport: its own io_context and thread, the listener, and one coroutine
// per connection that reads a bounded request within a deadline, answers it, and keeps alive.
#include "admin/server.hpp"

#include <atomic>
#include <cctype>
#include <cstring>
#include <list>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "admin/router.hpp"
#include "log/log.hpp"

namespace iaposte::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Sent as is, without reading anything, to a connection over the limit.
const std::string& busy_response() {
  static const std::string text = [] {
    const std::string body = R"({"error":"too many connections"})";
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\nRetry-After: 1\r\n\r\n" + body;
  }();
  return text;
}

// The status for a request that could not be read, or 0 when the connection just ends
// (closed by the peer, timed out, stopped).
unsigned read_failure_status(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::body_limit) return 413;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return 0;
  if (ec.category() == http::make_error_code(http::error::bad_target).category()) return 400;
  return 0;
}

// A handler's extra header: a token for the name, no line break or NUL in the value (no
// response splitting, whatever the handler put there).
bool safe_header(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c)))
      return false;
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

void log_failure(std::string_view what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::error("admin.failed", {{"in", what}, {"error", ex.what()}});
  } catch (...) {
    log::error("admin.failed", {{"in", what}, {"error", "unknown exception"}});
  }
}

} // namespace

// Members in this order so that what the coroutines touch outlives the io_context, whose
// destruction destroys any coroutine frame still pending.
struct server::impl {
  server_config cfg;
  admin::router router;

  // Touched on the admin thread only.
  bool stopping = false;
  std::size_t active = 0;                    // counted from accept, for the limit
  std::list<beast::tcp_stream*> connections; // closed by stop()

  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  std::atomic<std::uint16_t> port{0};
  std::mutex start_stop;
  bool started = false;

  impl(server_config c, const metrics::registry* m) : cfg(std::move(c)), router(cfg, m) {}

  awaitable<void> accept_loop();
  awaitable<void> session(tcp::socket sock);
  awaitable<void> linger(beast::tcp_stream& stream);
  http::response<http::string_body> answer(const http::request<http::string_body>& req);
};

awaitable<void> server::impl::accept_loop() {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(use_tuple);
    if (stopping) co_return;
    if (ec) {
      // Out of descriptors and the like: say so, and do not spin.
      log::warn("admin.accept_failed", {{"error", ec.message()}});
      asio::steady_timer pause(ioc, 100ms);
      co_await pause.async_wait(use_tuple);
      continue;
    }
    if (active >= cfg.max_connections) {
      boost::system::error_code ignored;
      sock.non_blocking(true, ignored);
      sock.write_some(asio::buffer(busy_response()), ignored); // fits any socket buffer
      sock.shutdown(tcp::socket::shutdown_both, ignored);
      sock.close(ignored);
      continue;
    }
    ++active;
    asio::co_spawn(ioc, session(std::move(sock)),
                   [](std::exception_ptr e) { log_failure("session", e); });
  }
}

awaitable<void> server::impl::session(tcp::socket sock) {
  beast::tcp_stream stream(std::move(sock));
  auto self = connections.insert(connections.end(), &stream);
  struct leave {
    impl* i;
    std::list<beast::tcp_stream*>::iterator it;
    ~leave() {
      i->connections.erase(it);
      --i->active;
    }
  } on_exit{this, self};

  beast::flat_buffer buffer;
  while (!stopping) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(cfg.max_header_bytes));
    parser.body_limit(cfg.max_body_bytes);
    // One deadline for the whole request: a client dribbling bytes gets no more time.
    stream.expires_after(cfg.read_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) {
      const unsigned status = stopping ? 0 : read_failure_status(ec);
      if (status == 0) break;
      auto r = error_response(status, status == 431   ? "request header fields too large"
                                      : status == 413 ? "request body too large"
                                                      : "malformed request");
      http::response<http::string_body> res{http::status(status), 11};
      res.set(http::field::content_type, r.content_type);
      res.set(http::field::cache_control, "no-store");
      res.keep_alive(false);
      res.body() = std::move(r.body);
      res.prepare_payload();
      stream.expires_after(cfg.write_timeout);
      auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
      if (!wec) co_await linger(stream);
      break;
    }
    const auto& req = parser.get();
    auto res = answer(req);
    const bool keep = req.keep_alive() && !stopping;
    res.keep_alive(keep);
    stream.expires_after(cfg.write_timeout);
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !keep) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
}

// After an error answer the client may still be sending what we refused; closing with unread
// data would reset the connection and could destroy the answer before it is read. So half-close,
// then discard what comes for a moment (as HTTP servers do, RFC 9112 §9.6).
awaitable<void> server::impl::linger(beast::tcp_stream& stream) {
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.expires_after(std::min<std::chrono::milliseconds>(cfg.read_timeout, 2s));
  char scratch[4096];
  std::size_t discarded = 0;
  while (!stopping && discarded < 4 * cfg.max_body_bytes + 65536) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(scratch), use_tuple);
    if (ec) break;
    discarded += n;
  }
}

http::response<http::string_body>
server::impl::answer(const http::request<http::string_body>& req) {
  const incoming in{std::string_view(req.method_string()), std::string_view(req.target()),
                    std::string_view(req[http::field::authorization]),
                    std::string_view(req[http::field::content_type]), req.body()};
  response r = router.dispatch(in);
  http::response<http::string_body> res{http::status(r.status), req.version()};
  if (res.result() == http::status::unknown) res.result(500);
  // No body is allowed with 1xx, 204 and 304 (RFC 9110 §6.4.1); Beast would throw.
  const unsigned code = res.result_int();
  if (code < 200 || code == 204 || code == 304) r.body.clear();
  try {
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : r.headers) {
      if (!safe_header(name, value)) throw std::invalid_argument("unsafe header " + name);
      res.set(name, value);
    }
  } catch (const std::exception& e) { // a header name or value a handler got wrong
    log::error("admin.bad_response",
               {{"path", std::string_view(req.target())}, {"error", e.what()}});
    res = {http::status::internal_server_error, req.version()};
    res.set(http::field::content_type, "application/json");
    r.body = R"({"error":"internal error"})";
  }
  res.body() = std::move(r.body);
  res.prepare_payload();
  return res;
}

server::server(server_config cfg, const metrics::registry* metrics)
    : impl_(std::make_unique<impl>(std::move(cfg), metrics)) {}

server::~server() {
  stop();
}

void server::add_check(std::string name, std::function<check_result()> fn) {
  impl_->router.add_check(std::move(name), std::move(fn));
}

void server::add_route(route r) {
  impl_->router.add_route(std::move(r));
}

void server::start() {
  impl& i = *impl_;
  std::lock_guard lock(i.start_stop);
  if (!i.cfg.enabled) return;
  if (i.started) throw std::logic_error("admin server started twice");
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(i.cfg.address, ec);
  if (ec) throw std::runtime_error("admin: '" + i.cfg.address + "' is not an IP address");
  const tcp::endpoint ep(address, i.cfg.port);
  const std::string where = i.cfg.address + ":" + std::to_string(i.cfg.port);
  if (i.acceptor.open(ep.protocol(), ec); ec)
    throw std::runtime_error("admin: cannot open a socket: " + ec.message());
  i.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (i.acceptor.bind(ep, ec); ec)
    throw std::runtime_error("admin: cannot bind " + where + ": " + ec.message());
  if (i.acceptor.listen(asio::socket_base::max_listen_connections, ec); ec)
    throw std::runtime_error("admin: cannot listen on " + where + ": " + ec.message());
  i.port = i.acceptor.local_endpoint().port();
  asio::co_spawn(i.ioc, i.accept_loop(), [](std::exception_ptr e) { log_failure("accept", e); });
  i.thread = std::thread([&i] {
    try {
      i.ioc.run();
    } catch (const std::exception& e) {
      log::error("admin.failed", {{"in", "run"}, {"error", e.what()}});
    }
  });
  i.started = true;
  log::info("admin.listening", {{"address", i.cfg.address}, {"port", i.port.load()}});
}

void server::stop() {
  impl& i = *impl_;
  std::lock_guard lock(i.start_stop);
  if (!i.thread.joinable()) return;
  asio::post(i.ioc, [&i] {
    i.stopping = true;
    boost::system::error_code ignored;
    i.acceptor.close(ignored);
    for (auto* s : i.connections)
      s->close(); // pending reads and writes end as aborted
  });
  i.thread.join();
  log::info("admin.stopped", {{"port", i.port.load()}});
}

std::uint16_t server::port() const {
  return impl_->port.load();
}

} // namespace iaposte::admin
