// Test-only decoders (quoted-printable, base64, encoded-words), written independently of lib/mime.
#pragma once

#include <string>
#include <string_view>

namespace iaposte::mime::test {

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

inline std::string decode_qp(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '=') {
      out += in[i];
    } else if (in.substr(i + 1, 2) == "\r\n") {
      i += 2; // soft line break
    } else {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    }
  }
  return out;
}

inline std::string decode_base64(std::string_view in) {
  static constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (char c : in) {
    auto v = alphabet.find(c);
    if (v == std::string_view::npos) continue; // CRLF, padding
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xFF);
    }
  }
  return out;
}

// One RFC 2047 encoded-word: =?UTF-8?Q?...?= or =?UTF-8?B?...?=.
inline std::string decode_word(std::string_view w) {
  auto payload = w.substr(10, w.size() - 12);
  if (w.substr(0, 10) == "=?UTF-8?B?") return decode_base64(payload);
  std::string q(payload);
  for (auto& c : q)
    if (c == '_') c = ' ';
  return decode_qp(q);
}

} // namespace iaposte::mime::test
