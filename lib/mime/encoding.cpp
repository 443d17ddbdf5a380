// Transfer encodings: quoted-printable and base64 bodies, RFC 2047 encoded-words for headers.
#include <algorithm>

#include "mime/compose.hpp"
#include "mime/detail.hpp"

namespace iaposte::mime {
namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";
constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// RFC 2047 §5 (3): the characters that may stay literal in a Q-encoded word in a
// phrase; the strictest context, so the same words serve display names and Subject.
bool q_literal(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '!' ||
         c == '*' || c == '+' || c == '-' || c == '/';
}

std::size_t q_size(unsigned char c) {
  return q_literal(c) || c == ' ' ? 1 : 3;
}

void append_q(std::string& out, unsigned char c) {
  if (c == ' ') {
    out += '_';
  } else if (q_literal(c)) {
    out += static_cast<char>(c);
  } else {
    out += '=';
    out += hex_digits[c >> 4];
    out += hex_digits[c & 0xF];
  }
}

bool qp_literal(unsigned char c) {
  return (c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t';
}

} // namespace

namespace detail {

std::size_t char_length(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80           ? 1
                  : (c >> 5) == 0x6  ? 2
                  : (c >> 4) == 0xE  ? 3
                  : (c >> 3) == 0x1E ? 4
                                     : 1;
  if (i + n > s.size()) return 1;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  return n;
}

bool needs_encoding(std::string_view text) {
  for (auto c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x7F || (u < 0x20 && u != '\t')) return true;
  }
  return text.find("=?") != std::string_view::npos;
}

std::string base64(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += b64_alphabet[(v >> 18) & 63];
    out += b64_alphabet[(v >> 12) & 63];
    out += b64_alphabet[(v >> 6) & 63];
    out += b64_alphabet[v & 63];
  }
  if (auto rest = in.size() - i; rest > 0) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += b64_alphabet[(v >> 18) & 63];
    out += b64_alphabet[(v >> 12) & 63];
    out += rest == 2 ? b64_alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::size_t base64_lines_size(std::size_t n) {
  std::size_t chars = (n + 2) / 3 * 4;
  return chars + (chars + 75) / 76 * 2;
}

std::vector<std::string> encoded_words(std::string_view utf8, std::size_t first_max,
                                       std::size_t max) {
  constexpr std::string_view q_prefix = "=?UTF-8?Q?", b_prefix = "=?UTF-8?B?", suffix = "?=";
  constexpr std::size_t overhead = 12;
  // A word must hold at least one whole character (4 bytes: 12 in Q, 8 in B).
  max = std::clamp<std::size_t>(max, overhead + 12, 75);
  first_max = first_max < overhead + 12 ? max : std::min(first_max, max);

  // Q when at least two thirds of the characters are ASCII: French stays legible
  // ("H=C3=A9l=C3=A8ne"), Chinese or Russian goes to the denser B.
  std::size_t ascii = 0, other = 0;
  for (std::size_t i = 0; i < utf8.size(); i += char_length(utf8, i))
    (static_cast<unsigned char>(utf8[i]) < 0x80 ? ascii : other) += 1;
  bool use_q = ascii >= 2 * other;

  std::vector<std::string> words;
  std::size_t limit = first_max - overhead;
  std::size_t i = 0;
  while (i < utf8.size()) {
    std::size_t start = i, payload = 0;
    while (i < utf8.size()) {
      auto n = char_length(utf8, i);
      std::size_t grown = 0;
      if (use_q) {
        for (std::size_t k = 0; k < n; ++k)
          grown += q_size(static_cast<unsigned char>(utf8[i + k]));
        grown += payload;
      } else {
        grown = (i + n - start + 2) / 3 * 4;
      }
      if (grown > limit && i > start) break;
      payload = grown;
      i += n;
    }
    auto chunk = utf8.substr(start, i - start);
    std::string word(use_q ? q_prefix : b_prefix);
    if (use_q)
      for (auto c : chunk)
        append_q(word, static_cast<unsigned char>(c));
    else
      word += base64(chunk);
    word += suffix;
    words.push_back(std::move(word));
    limit = max - overhead;
  }
  return words;
}

} // namespace detail

std::string encode_word(std::string_view utf8) {
  if (!detail::needs_encoding(utf8)) return std::string(utf8);
  std::string out;
  for (const auto& w : detail::encoded_words(utf8, 75, 75)) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

// RFC 2045 §6.7. CRLF in the input is a hard line break; a lone CR or LF is data
// and is encoded. Encoded lines are at most 76 characters, "=" included.
std::string quoted_printable(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 8);
  std::size_t col = 0;
  auto put = [&](std::string_view token, bool last_on_line) {
    // The last token of a line may use column 76; others leave room for the soft break.
    std::size_t room = last_on_line ? 76 : 75;
    if (col + token.size() > room) {
      out += "=\r\n";
      col = 0;
    }
    out += token;
    col += token.size();
  };
  std::size_t i = 0;
  while (i < in.size()) {
    auto eol = in.find("\r\n", i);
    auto line = in.substr(i, eol == std::string_view::npos ? std::string_view::npos : eol - i);
    for (std::size_t k = 0; k < line.size(); ++k) {
      auto c = static_cast<unsigned char>(line[k]);
      bool last = k + 1 == line.size();
      // Rule 3: whitespace at the end of a line is encoded, as transports strip it.
      bool literal = qp_literal(c) && !(last && (c == ' ' || c == '\t'));
      char token[3] = {static_cast<char>(c), 0, 0};
      std::string_view t(token, 1);
      if (!literal) {
        token[0] = '=';
        token[1] = hex_digits[c >> 4];
        token[2] = hex_digits[c & 0xF];
        t = std::string_view(token, 3);
      }
      put(t, last);
    }
    if (eol == std::string_view::npos) break;
    out += "\r\n";
    col = 0;
    i = eol + 2;
  }
  return out;
}

std::string base64_lines(std::string_view in) {
  auto flat = detail::base64(in);
  std::string out;
  out.reserve(detail::base64_lines_size(in.size()));
  for (std::size_t i = 0; i < flat.size(); i += 76) {
    out.append(flat, i, 76);
    out += "\r\n";
  }
  return out;
}

} // namespace iaposte::mime
