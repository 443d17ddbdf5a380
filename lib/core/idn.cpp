// IDNA2008 through libidn2: U-labels for headers, A-labels for DNS and servers without SMTPUTF8.
#include "core/idn.hpp"

#include <idn2.h>

#include <algorithm>
#include <memory>

namespace iaposte::core::idn {
namespace {

struct idn2_deleter {
  void operator()(char* p) const { idn2_free(p); }
};
using idn2_string = std::unique_ptr<char, idn2_deleter>;

// UTS #46 non-transitional processing: "ß" stays "ß" (IDNA2008), upper case and full-width
// forms are mapped; NFC first, as the producer's text may be decomposed ("e" + U+0301).
constexpr int to_ascii_flags = IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL;

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

bool ldh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// The A-label form of a non-ASCII domain, or the libidn2 reason.
std::string idna_to_ascii(std::string_view domain, std::string* error) {
  auto fail = [&](std::string why) {
    if (error) *error = std::move(why);
    return std::string();
  };
  if (has_control(domain)) return fail("control character");
  char* raw = nullptr;
  int rc = idn2_to_ascii_8z(std::string(domain).c_str(), &raw, to_ascii_flags);
  idn2_string out(raw);
  if (rc != IDN2_OK) return fail(idn2_strerror(rc));
  return std::string(out.get());
}

} // namespace

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool host_name(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    auto dot = d.find('.', start);
    auto label = d.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    if (!std::all_of(label.begin(), label.end(), ldh)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string normalise_domain(std::string_view domain, std::string* error) {
  auto fail = [&](std::string why) {
    if (error) *error = std::move(why);
    return std::string();
  };
  if (is_ascii(domain)) {
    // As given: an ASCII name valid before IDN support stays valid and unchanged, A-labels
    // included (no IDNA check: RFC 5321 syntax and the DNS decide, as they always did).
    if (!host_name(domain)) return fail("not a host name");
    return std::string(domain);
  }
  std::string why;
  auto ascii = idna_to_ascii(domain, &why);
  if (ascii.empty()) return fail("not a valid IDNA2008 domain name: " + why);
  // libidn2 without STD3 rules lets "_", empty labels and a final dot through: the name must
  // still be a host name once in A-labels.
  if (!host_name(ascii))
    return fail("its A-label form \"" + ascii +
                "\" is not a host name (labels of 1-63 letters, digits or hyphens, "
                "at most 253 octets)");
  char* raw = nullptr;
  int rc = idn2_to_unicode_8z8z(ascii.c_str(), &raw, 0);
  idn2_string u(raw);
  if (rc != IDN2_OK)
    return fail("not a valid IDNA2008 domain name: " + std::string(idn2_strerror(rc)));
  return std::string(u.get());
}

std::string to_ascii(std::string_view domain, std::string* error) {
  if (is_ascii(domain)) return std::string(domain);
  return idna_to_ascii(domain, error);
}

bool utf8_local_part(std::string_view email) {
  auto at = email.rfind('@');
  return !is_ascii(at == std::string_view::npos ? email : email.substr(0, at));
}

std::optional<std::string> ascii_address(std::string_view email) {
  auto at = email.rfind('@');
  if (at == std::string_view::npos || utf8_local_part(email)) return std::nullopt;
  auto domain = to_ascii(email.substr(at + 1));
  if (domain.empty()) return std::nullopt;
  return std::string(email.substr(0, at + 1)) + domain;
}

std::string mailbox_key(std::string_view email) {
  auto at = email.rfind('@');
  if (at == std::string_view::npos) return std::string(email);
  auto domain = to_ascii(email.substr(at + 1));
  if (domain.empty()) domain = std::string(email.substr(at + 1));
  for (char& c : domain)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return std::string(email.substr(0, at + 1)) + domain;
}

} // namespace iaposte::core::idn
