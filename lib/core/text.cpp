// UTF-8 validation and repair of text bound for events, logs, headers and rows.
#include "core/text.hpp"

namespace iaposte::core {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one
// (RFC 3629 §4, the table of well-formed byte sequences).
std::size_t sequence_at(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF; // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0; // no overlong forms
    if (c == 0xED) hi = 0x9F; // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90; // no overlong forms
    if (c == 0xF4) hi = 0x8F; // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return n;
}

} // namespace

std::size_t invalid_utf8_at(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto n = sequence_at(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string clean_text(std::string_view s, std::size_t max_bytes) {
  constexpr std::string_view replacement = "\xEF\xBF\xBD"; // U+FFFD
  constexpr std::string_view ellipsis = "...";
  std::string out;
  out.reserve(s.size() < max_bytes ? s.size() : max_bytes + 4);
  // Stops as soon as the cleaned text is known to be too long.
  for (std::size_t i = 0; i < s.size() && out.size() <= max_bytes;) {
    auto n = sequence_at(s, i);
    out += n ? s.substr(i, n) : replacement;
    i += n ? n : 1;
  }
  if (out.size() <= max_bytes) return out;
  std::size_t cut = max_bytes >= ellipsis.size() ? max_bytes - ellipsis.size() : 0;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80)
    --cut; // back to the first byte of a code point
  out.resize(cut);
  if (max_bytes >= ellipsis.size()) out += ellipsis;
  return out;
}

} // namespace iaposte::core
