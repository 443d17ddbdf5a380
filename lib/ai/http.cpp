// The Beast side of the AI client: resolve, connect, TLS, one request and one response per
// exchange, keep-alive connections kept for the next call.
#include "ai/http.hpp"

#include <ctime>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace iaposte::ai::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// Big enough for any chat completion we ask for (max_tokens), small enough to bound memory.
constexpr std::size_t body_limit = 4 << 20;

std::optional<endpoint> parse_base_url(const std::string& url, std::string& error) {
  endpoint e;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    e.tls = true;
    e.port = 443;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    e.port = 80;
    rest = url.substr(7);
  } else {
    error = "base_url: expected http:// or https://";
    return std::nullopt;
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  e.path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!e.path.empty() && e.path.back() == '/')
    e.path.pop_back();
  if (authority.find('@') != std::string::npos) {
    error = "base_url: credentials in the URL are not supported (use api_key)";
    return std::nullopt;
  }
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) {
      error = "base_url: bad IPv6 literal";
      return std::nullopt;
    }
    e.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      port = authority.substr(close + 2);
  } else if (auto colon = authority.rfind(':'); colon != std::string::npos) {
    e.host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  } else {
    e.host = authority;
  }
  if (e.host.empty()) {
    error = "base_url: no host";
    return std::nullopt;
  }
  if (!port.empty()) {
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (*end || p < 1 || p > 65535) {
      error = "base_url: bad port";
      return std::nullopt;
    }
    e.port = static_cast<std::uint16_t>(p);
  }
  return e;
}

std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& retry_after,
                                                           const std::string& retry_after_ms) {
  if (!retry_after_ms.empty()) {
    char* end = nullptr;
    double v = std::strtod(retry_after_ms.c_str(), &end);
    if (!*end && v >= 0) return std::chrono::milliseconds{static_cast<long long>(v)};
  }
  if (retry_after.empty()) return std::nullopt;
  char* end = nullptr;
  double secs = std::strtod(retry_after.c_str(), &end);
  if (!*end && secs >= 0) return std::chrono::milliseconds{static_cast<long long>(secs * 1000)};
  std::tm tm{};
  if (const char* p = strptime(retry_after.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm); p && !*p) {
    const std::time_t at = timegm(&tm), now = std::time(nullptr);
    return std::chrono::milliseconds{at > now ? (at - now) * 1000LL : 0};
  }
  return std::nullopt;
}

namespace {

struct connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<ssl::stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  steady::time_point last_used = steady::now();

  beast::tcp_stream& lowest() { return tls ? tls->next_layer() : *plain; }
};

struct exchange_result {
  http_response response;
  bool keep_alive = false;
  bool got_nothing = false; // the connection failed before any byte of a response
};

template <typename Stream>
asio::awaitable<exchange_result> exchange(Stream& s, connection& c,
                                          http::request<http::string_body>& req,
                                          steady::time_point deadline) {
  exchange_result out;
  c.lowest().expires_at(deadline);
  auto [wec, wn] = co_await http::async_write(s, req, tuple_awaitable);
  (void)wn;
  if (wec) {
    out.got_nothing = true;
    out.response.timed_out = wec == beast::error::timeout;
    out.response.error = out.response.timed_out ? "timeout" : "write: " + wec.message();
    co_return out;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  auto [rec, rn] = co_await http::async_read(s, c.buffer, parser, tuple_awaitable);
  (void)rn;
  if (rec) {
    out.got_nothing = !parser.got_some();
    out.response.timed_out = rec == beast::error::timeout;
    out.response.error = out.response.timed_out ? "timeout" : "read: " + rec.message();
    co_return out;
  }
  auto& res = parser.get();
  out.response.status = static_cast<int>(res.result_int());
  out.response.body = std::move(res.body());
  out.response.retry_after =
      parse_retry_after(std::string(res["Retry-After"]), std::string(res["retry-after-ms"]));
  out.keep_alive = res.keep_alive();
  co_return out;
}

} // namespace

struct http_pool::impl {
  asio::any_io_executor ex;
  const provider_config& cfg;
  std::optional<endpoint> ep;
  std::string setup_error; // bad URL or CA file: every post fails with it
  std::shared_ptr<ssl::context> ctx;
  std::vector<std::unique_ptr<connection>> idle;
  std::string host_header;

  impl(asio::any_io_executor e, const provider_config& c) : ex(std::move(e)), cfg(c) {
    ep = parse_base_url(cfg.base_url, setup_error);
    if (!ep) return;
    const bool default_port = ep->port == (ep->tls ? 443 : 80);
    const bool v6 = ep->host.find(':') != std::string::npos;
    host_header = (v6 ? "[" + ep->host + "]" : ep->host) +
                  (default_port ? "" : ":" + std::to_string(ep->port));
    if (!ep->tls) return;
    ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    boost::system::error_code ec;
    if (!cfg.ca_file.empty())
      ctx->load_verify_file(cfg.ca_file, ec);
    else
      ctx->set_default_verify_paths(ec);
    if (ec)
      setup_error = "TLS: cannot load " +
                    (cfg.ca_file.empty() ? "the system CA store" : cfg.ca_file) + ": " +
                    ec.message();
  }

  std::unique_ptr<connection> take_idle(std::atomic<std::size_t>& count) {
    const auto now = steady::now();
    while (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      --count;
      if (now - c->last_used < cfg.idle_timeout && c->lowest().socket().is_open()) return c;
    }
    return nullptr;
  }

  // Resolve (bounded by a timer that cancels the resolver), connect, TLS handshake.
  asio::awaitable<std::unique_ptr<connection>> open(steady::time_point deadline,
                                                    http_response& failure) {
    const auto connect_by = std::min(deadline, steady::now() + cfg.connect_timeout);
    auto resolver = std::make_shared<tcp::resolver>(ex);
    asio::steady_timer guard(ex, connect_by);
    guard.async_wait([resolver](boost::system::error_code ec) {
      if (!ec) resolver->cancel();
    });
    auto [rec, results] =
        co_await resolver->async_resolve(ep->host, std::to_string(ep->port), tuple_awaitable);
    guard.cancel();
    if (rec) {
      failure.timed_out = rec == asio::error::operation_aborted;
      failure.error = failure.timed_out ? "timeout (resolve)" : "resolve: " + rec.message();
      co_return nullptr;
    }
    auto c = std::make_unique<connection>();
    if (ep->tls)
      c->tls = std::make_unique<ssl::stream<beast::tcp_stream>>(beast::tcp_stream(ex), *ctx);
    else
      c->plain = std::make_unique<beast::tcp_stream>(ex);
    c->lowest().expires_at(connect_by);
    auto [cec, ce] = co_await c->lowest().async_connect(results, tuple_awaitable);
    (void)ce;
    if (cec) {
      failure.timed_out = cec == beast::error::timeout;
      failure.error = failure.timed_out ? "timeout (connect)" : "connect: " + cec.message();
      co_return nullptr;
    }
    c->lowest().socket().set_option(tcp::no_delay(true));
    if (!c->tls) co_return c;

    SSL* h = c->tls->native_handle();
    boost::system::error_code aec;
    (void)asio::ip::make_address(ep->host, aec);
    const bool literal = !aec;
    // SNI only for names (RFC 6066 §3); the name or address the certificate must match.
    if (!literal) SSL_set_tlsext_host_name(h, ep->host.c_str());
    if (cfg.verify_peer) {
      c->tls->set_verify_mode(ssl::verify_peer);
      X509_VERIFY_PARAM* param = SSL_get0_param(h);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      int ok = literal ? X509_VERIFY_PARAM_set1_ip_asc(param, ep->host.c_str())
                       : X509_VERIFY_PARAM_set1_host(param, ep->host.c_str(), ep->host.size());
      if (ok != 1) {
        failure.error = "TLS: cannot set certificate verification for " + ep->host;
        failure.transient = false;
        co_return nullptr;
      }
    } else {
      c->tls->set_verify_mode(ssl::verify_none);
    }
    c->lowest().expires_at(deadline);
    auto [hec] = co_await c->tls->async_handshake(ssl::stream_base::client, tuple_awaitable);
    if (hec) {
      failure.timed_out = hec == beast::error::timeout;
      failure.error =
          failure.timed_out ? "timeout (TLS handshake)" : "TLS handshake: " + hec.message();
      long v = SSL_get_verify_result(h);
      if (!failure.timed_out && v != X509_V_OK) {
        failure.error += std::string(": ") + X509_verify_cert_error_string(v);
        failure.transient = false; // the same certificate will be refused again
      }
      co_return nullptr;
    }
    co_return c;
  }
};

http_pool::http_pool(asio::any_io_executor ex, const provider_config& cfg)
    : impl_(std::make_unique<impl>(std::move(ex), cfg)) {}

http_pool::~http_pool() = default;

asio::awaitable<http_response> http_pool::post(const std::string& suffix, const std::string& body,
                                               steady::time_point deadline) {
  auto& m = *impl_;
  if (!m.setup_error.empty()) co_return http_response{0, {}, {}, m.setup_error, false, false};

  http::request<http::string_body> req{http::verb::post, m.ep->path + suffix, 11};
  req.set(http::field::host, m.host_header);
  req.set(http::field::user_agent, "iaposte");
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "application/json");
  if (!m.cfg.api_key.empty()) req.set(http::field::authorization, "Bearer " + m.cfg.api_key);
  req.keep_alive(true);
  req.body() = body;
  req.prepare_payload();

  for (int round = 0;; ++round) {
    auto c = m.take_idle(idle_count_);
    const bool reused = c != nullptr;
    if (!c) {
      http_response failure;
      c = co_await m.open(deadline, failure);
      if (!c) co_return failure;
    }
    // Not a conditional expression: GCC 12 miscompiles co_await inside ?: .
    exchange_result r;
    if (c->tls)
      r = co_await exchange(*c->tls, *c, req, deadline);
    else
      r = co_await exchange(*c->plain, *c, req, deadline);
    // A keep-alive connection the server closed meanwhile: not the provider's failure.
    if (r.response.status == 0 && reused && r.got_nothing && !r.response.timed_out && round == 0)
      continue;
    if (r.response.status != 0 && r.keep_alive) {
      c->last_used = steady::now();
      c->lowest().expires_never();
      m.idle.push_back(std::move(c));
      ++idle_count_;
    }
    co_return std::move(r.response);
  }
}

} // namespace iaposte::ai::detail
