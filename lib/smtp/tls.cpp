// TLS policy for the relay: context, SNI, certificate and host name verification.
#include "smtp/tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace iaposte::smtp::tls {

namespace ssl = boost::asio::ssl;

bool verifies(const relay_config& cfg) {
  return cfg.verify_peer && (cfg.tls == tls_mode::required || cfg.tls == tls_mode::implicit);
}

context_result make_context(const relay_config& cfg) {
  context_result out;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  // Without verification there is nothing to load (and a bad path must not stop plain mail).
  if (!verifies(cfg)) {
    out.ctx = std::move(ctx);
    return out;
  }
  boost::system::error_code ec;
  if (!cfg.ca_file.empty()) {
    ctx->load_verify_file(cfg.ca_file, ec);
    if (ec) {
      out.error = "TLS: cannot load CA file " + cfg.ca_file + ": " + ec.message();
      return out;
    }
  } else {
    ctx->set_default_verify_paths(ec);
    if (ec) {
      out.error = "TLS: cannot load the system CA store: " + ec.message();
      return out;
    }
  }
  out.ctx = std::move(ctx);
  return out;
}

bool prepare(stream& s, const std::string& host, bool verify, std::string& error) {
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(host, ec);
  bool literal = !ec;
  SSL* h = s.native_handle();
  if (!literal && !SSL_set_tlsext_host_name(h, host.c_str())) {
    error = "TLS: cannot set SNI for " + host;
    return false;
  }
  if (!verify) {
    s.set_verify_mode(ssl::verify_none);
    return true;
  }
  s.set_verify_mode(ssl::verify_peer, ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(h);
  // Only whole-label wildcards ("*.example.com"), as RFC 6125 §6.4.3 recommends.
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  int ok = literal ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                   : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (ec || ok != 1) {
    error = "TLS: cannot set certificate verification for " + host;
    return false;
  }
  return true;
}

std::string describe_handshake_error(stream& s, const boost::system::error_code& ec) {
  std::string out = "TLS handshake: " + ec.message();
  long v = SSL_get_verify_result(s.native_handle());
  if (v != X509_V_OK) out += std::string(": ") + X509_verify_cert_error_string(v);
  return out;
}

} // namespace iaposte::smtp::tls
