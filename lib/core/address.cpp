// Address syntax: addr-spec validation (RFC 5321, RFC 6531), header safety, the "Name <addr>" form.
#include <arpa/inet.h>

#include <array>

#include "core/idn.hpp"
#include "core/request.hpp"
#include "core/syntax.hpp"

namespace iaposte::core {
namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 5322 §3.2.3 atext.
bool is_atext(char c) {
  return is_alnum(c) || std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// Dot-atom only: quoted local parts are legal but rare, and a common vector for
// confusing downstream systems, so they are refused.
bool valid_local_part(std::string_view local) {
  if (local.empty() || local.size() > 64) return false; // RFC 5321 §4.5.3.1.1
  if (local.front() == '.' || local.back() == '.') return false;
  char prev = 0;
  for (char c : local) {
    if (c == '.' && prev == '.') return false;
    if (c != '.' && !is_atext(c) && static_cast<unsigned char>(c) < 0x80) return false;
    prev = c;
  }
  return true;
}

// Characters RFC 6532's UTF8-non-ascii lets into a local part but that no one can see or tell
// from a space: C1 controls, spaces other than U+0020, zero-width and bidirectional formatting
// characters, line and paragraph separators, the byte order mark, noncharacters. Two addresses
// that look the same must not be two mailboxes in a customer's email.
bool invisible(long cp) {
  return (cp >= 0x80 && cp <= 0xA0) || cp == 0xAD || cp == 0x1680 || cp == 0x180E ||
         (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
         (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF ||
         (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE;
}

// RFC 6531 §3.3: the dot-atom of RFC 5321 with UTF-8 characters as atext (RFC 6532 §3.2), at
// most 64 octets. Kept byte for byte, not normalised: only the receiving domain interprets a
// local part (RFC 5321 §2.4), and a server that compares octets would see another mailbox.
// `why` gets the reason of a UTF-8 specific refusal.
bool valid_utf8_local_part(std::string_view local, std::string& why) {
  if (local.size() > 64) {
    why = "local part longer than 64 octets in UTF-8";
    return false;
  }
  if (!valid_local_part(local)) return false;
  for (std::size_t i = 0, n = 1; i < local.size(); i += n) {
    long cp = detail::decode_utf8(local, i, n);
    if (cp < 0) {
      why = "local part is not valid UTF-8";
      return false;
    }
    if (invisible(cp)) {
      why = "local part has " + detail::code_point_name(cp) +
            ", an invisible, space or control character";
      return false;
    }
  }
  return true;
}

// RFC 5321 §4.1.3 address literal: [192.0.2.1] or [IPv6:2001:db8::1].
bool valid_address_literal(std::string_view d) {
  if (d.size() < 3 || d.front() != '[' || d.back() != ']') return false;
  std::string inner(d.substr(1, d.size() - 2));
  // inet_pton reads up to a NUL: "[IPv6:2001:db8::<NUL>...1]" would pass on its first half.
  if (inner.find('\0') != std::string::npos) return false;
  std::array<unsigned char, 16> buf{};
  if (inner.rfind("IPv6:", 0) == 0) return inet_pton(AF_INET6, inner.c_str() + 5, buf.data()) == 1;
  return inet_pton(AF_INET, inner.c_str(), buf.data()) == 1;
}

} // namespace

namespace detail {

std::optional<std::string> check_email(std::string_view email, std::string& normalised) {
  constexpr std::size_t max_path = 254; // RFC 5321 §4.5.3.1.3: 256 with the angle brackets
  if (email.size() > max_path) return std::string();
  auto at = email.rfind('@');
  if (at == std::string_view::npos) return std::string();
  auto local = email.substr(0, at);
  auto domain = email.substr(at + 1);
  std::string why;
  bool ascii_local = idn::is_ascii(local);
  if (ascii_local ? !valid_local_part(local) : !valid_utf8_local_part(local, why))
    return why.empty() ? why : " (" + why + ")";
  std::string kept;
  if (!domain.empty() && domain.front() == '[') {
    if (!valid_address_literal(domain)) return std::string();
    kept = std::string(domain);
  } else {
    kept = idn::normalise_domain(domain, &why);
    // An ASCII domain is refused as it always was, with no more words.
    if (kept.empty()) return idn::is_ascii(domain) ? std::string() : " (domain " + why + ")";
  }
  normalised = std::string(local) + "@" + kept;
  if (normalised.size() > max_path) return std::string(" (longer than 254 octets)");
  // Without SMTPUTF8 the domain goes in A-labels, which must fit the path as well.
  if (ascii_local && !idn::is_ascii(kept) &&
      idn::to_ascii(kept).size() + local.size() + 1 > max_path)
    return std::string(" (longer than 254 octets with the domain in A-labels)");
  return std::nullopt;
}

std::string invalid_email(std::string_view email, std::string_view why) {
  return "invalid email address " + quote(email) + std::string(why);
}

} // namespace detail

bool valid_email(std::string_view email) {
  std::string normalised;
  return !detail::check_email(email, normalised);
}

bool header_safe(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

namespace detail {

long decode_utf8(std::string_view s, std::size_t i, std::size_t& n) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  long cp;
  if (c < 0x80) {
    n = 1;
    return c;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return -1;
  }
  if (i + n > s.size()) return -1;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr long min_of_length[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_of_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  return cp;
}

std::string code_point_name(long cp) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string digits;
  for (; cp > 0 || digits.size() < 4; cp >>= 4)
    digits.insert(digits.begin(), hex[cp & 0xF]);
  return "U+" + digits;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string quote(std::string_view s) {
  constexpr std::size_t max_shown = 64;
  std::string out = "\"";
  std::size_t shown = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    // Cut only at the start of a UTF-8 sequence.
    if (shown >= max_shown && (c & 0xC0) != 0x80) {
      out += "...";
      break;
    }
    ++shown;
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20 || c == 0x7F) {
        static constexpr char hex[] = "0123456789abcdef";
        out += "\\x";
        out += hex[c >> 4];
        out += hex[c & 0xF];
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  out += '"';
  return out;
}

std::string check_display_name(std::string_view name) {
  if (!header_safe(name)) return "display name contains CR, LF or NUL";
  return {};
}

std::string parse_mailbox(std::string_view s, address& out) {
  std::string_view email = s;
  std::string name;
  auto lt = s.rfind('<');
  if (lt != std::string_view::npos && !s.empty() && s.back() == '>') {
    email = s.substr(lt + 1, s.size() - lt - 2);
    std::string_view raw = s.substr(0, lt);
    while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t'))
      raw.remove_prefix(1);
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t'))
      raw.remove_suffix(1);
    if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
      raw = raw.substr(1, raw.size() - 2);
      for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\' && i + 1 < raw.size()) ++i;
        name += raw[i];
      }
    } else {
      name = std::string(raw);
    }
  }
  std::string normalised;
  if (auto why = check_email(email, normalised)) return invalid_email(email, *why);
  if (auto why = check_display_name(name); !why.empty()) return why;
  out.email = std::move(normalised);
  out.display_name = std::move(name);
  return {};
}

} // namespace detail
} // namespace iaposte::core
