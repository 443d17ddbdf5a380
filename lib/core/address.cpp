// Address syntax: addr-spec validation, header safety, and the "Name <addr>" string form.
#include <arpa/inet.h>

#include <array>

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
    if (c != '.' && !is_atext(c)) return false;
    prev = c;
  }
  return true;
}

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label)
    if (!is_alnum(c) && c != '-') return false;
  return true;
}

// RFC 5321 §4.1.3 address literal: [192.0.2.1] or [IPv6:2001:db8::1].
bool valid_address_literal(std::string_view d) {
  if (d.size() < 3 || d.front() != '[' || d.back() != ']') return false;
  std::string inner(d.substr(1, d.size() - 2));
  std::array<unsigned char, 16> buf{};
  if (inner.rfind("IPv6:", 0) == 0) return inet_pton(AF_INET6, inner.c_str() + 5, buf.data()) == 1;
  return inet_pton(AF_INET, inner.c_str(), buf.data()) == 1;
}

bool valid_domain(std::string_view d) {
  if (d.empty()) return false;
  if (d.front() == '[') return valid_address_literal(d);
  if (d.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    auto dot = d.find('.', start);
    if (!valid_label(d.substr(start, dot == std::string_view::npos ? dot : dot - start)))
      return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

} // namespace

bool valid_email(std::string_view email) {
  if (email.size() > 254) return false; // RFC 5321 path limit minus the angle brackets
  auto at = email.rfind('@');
  if (at == std::string_view::npos) return false;
  return valid_local_part(email.substr(0, at)) && valid_domain(email.substr(at + 1));
}

bool header_safe(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

namespace detail {

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
  if (!valid_email(email)) return "invalid email address " + quote(email);
  if (auto why = check_display_name(name); !why.empty()) return why;
  out.email = std::string(email);
  out.display_name = std::move(name);
  return {};
}

} // namespace detail
} // namespace iaposte::core
