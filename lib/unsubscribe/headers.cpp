// The List-Unsubscribe and List-Unsubscribe-Post values of one message (RFC 2369 §3.2,
// RFC 8058 §3.1), and the masked address the confirmation page shows.
#include "unsubscribe/unsubscribe.hpp"

namespace iaposte::unsubscribe {

namespace {

// Percent-encodes what RFC 6068 §2 does not allow as is in a mailto `to`, and also ',' and
// parentheses, which a List-Unsubscribe parser could take for a separator or a comment
// (RFC 2369 §2: "literal commas in the URL must be encoded").
std::string mailto_encode(std::string_view address) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : address) {
    const auto c = static_cast<unsigned char>(ch);
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~' || c == '@' || c == '+' ||
                      c == '!' || c == '$' || c == '*' || c == ';' || c == ':' || c == '\'';
    if (keep) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

} // namespace

header_values headers_for(const config& cfg, const signer& s, const subscription& sub) {
  const std::string token = s.encode(sub);
  header_values h;
  h.url = normal_base_url(cfg.base_url) + token;
  // RFC 2369 §2: each URL in angle brackets, separated by commas, the preferred one first;
  // RFC 8058 §3.1: exactly one HTTPS URI, other schemes allowed beside it. The token is
  // base64url, unreserved characters only: "%20" is the one encoding the subject needs.
  h.list_unsubscribe = "<" + h.url + ">, <mailto:" + mailto_encode(cfg.mailto) +
                       "?subject=unsubscribe%20" + token + ">";
  h.list_unsubscribe_post = "List-Unsubscribe=One-Click";
  return h;
}

std::string mask_address(std::string_view address) {
  const auto at = address.rfind('@');
  const std::string_view local = address.substr(0, at);
  std::string out;
  // The first character, whole even when it takes several UTF-8 bytes.
  std::size_t n = local.empty() ? 0 : 1;
  while (n < local.size() && (static_cast<unsigned char>(local[n]) & 0xC0) == 0x80)
    ++n;
  out.append(local.substr(0, n));
  out += "\u2022\u2022\u2022";
  if (at != std::string_view::npos) out.append(address.substr(at));
  return out;
}

} // namespace iaposte::unsubscribe
