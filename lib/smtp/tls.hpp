// TLS policy: the client context, and what one connection verifies (internal to lib/smtp).
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "smtp/client.hpp"

namespace iaposte::smtp::tls {

using stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

// Whether this relay's certificate is checked. Opportunistic STARTTLS only encrypts (RFC 7435
// §1.3: no authentication, else a self-signed server would do worse than one without TLS);
// `required` and `implicit` verify the chain and the host name unless verify_peer is false.
bool verifies(const relay_config& cfg);

struct context_result {
  std::shared_ptr<boost::asio::ssl::context> ctx; // null when `error` is set
  std::string error;
};
// One client context per relay: TLS 1.2 or later, the CA file or the system store.
context_result make_context(const relay_config& cfg);

// Sets SNI (for a host name, never an address literal: RFC 6066 §3) and, when `verify`, the
// peer verification mode and the name or address the certificate must match (RFC 6125 checks
// done by OpenSSL itself, which also reports "hostname mismatch" by name). False and `error`
// when OpenSSL refuses a setting.
bool prepare(stream& s, const std::string& host, bool verify, std::string& error);

// "TLS handshake: certificate verify failed (SSL routines): unable to get local issuer
// certificate": the reason OpenSSL's verifier gave, when it gave one.
std::string describe_handshake_error(stream& s, const boost::system::error_code& ec);

} // namespace iaposte::smtp::tls
