// Attachment parts: RFC 2231 file names and fallback, disposition, Content-ID, base64, size.
#include <algorithm>

#include "mime/compose.hpp"
#include "mime/detail.hpp"

namespace iaposte::mime {
namespace {

using detail::crlf;

constexpr char hex_digits[] = "0123456789ABCDEF";

// A name that goes into a quoted string as is and keeps its parameter line within 78 columns:
// ` filename="` (11) + name + `";`.
constexpr std::size_t max_plain_name = 60;
// One RFC 2231 segment's value: ` filename*12*=` (14) + value + `;` stays within 76 columns.
constexpr std::size_t max_segment = 60;

// RFC 2231 §7 attribute-char: ASCII except space, controls, '*', '\'', '%' and the RFC 2045
// tspecials. Everything else is %XX.
bool attribute_char(unsigned char c) {
  return c > 0x20 && c < 0x7F &&
         std::string_view("*'%()<>@,;:\\\"/[]?=").find(static_cast<char>(c)) ==
             std::string_view::npos;
}

bool plain_name(std::string_view name) {
  return !name.empty() && name.size() <= max_plain_name &&
         std::all_of(name.begin(), name.end(), [](char c) {
           auto u = static_cast<unsigned char>(c);
           return u >= 0x20 && u < 0x7F && c != '"' && c != '\\';
         });
}

// The code point of a two-byte UTF-8 sequence (U+0080..U+07FF), else -1.
long two_byte_code_point(std::string_view s, std::size_t i, std::size_t n) {
  if (n != 2) return -1;
  return ((static_cast<unsigned char>(s[i]) & 0x1F) << 6) |
         (static_cast<unsigned char>(s[i + 1]) & 0x3F);
}

// Latin-1 Supplement letters without their accents, from U+00C0; "_" where none fits.
constexpr const char* latin1_letters[64] = {
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I",  "I",
    "D", "N", "O", "O", "O", "O", "O",  "x", "O", "U", "U", "U", "U", "Y", "TH", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "_", "o", "u", "u", "u", "u", "y", "th", "y"};

std::string transliterated(long cp) {
  if (cp >= 0xC0 && cp <= 0xFF) return latin1_letters[cp - 0xC0];
  switch (cp) {
  case 0x152:
    return "OE";
  case 0x153:
    return "oe";
  case 0x178:
    return "Y";
  case 0xAB: // « »
  case 0xBB:
    return "\'";
  case 0x2013: // en and em dashes
  case 0x2014:
    return "-";
  case 0x2018: // typographic quotes
  case 0x2019:
    return "'";
  default:
    return "_";
  }
}

bool text_type(std::string_view content_type) {
  return content_type.rfind("text/", 0) == 0;
}

// Well-formed UTF-8 in the sense of lib/mime's char_length: every lead byte has its
// continuation bytes (enough to call the text UTF-8 in a charset parameter).
bool looks_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto n = detail::char_length(s, i);
    if (n == 1 && static_cast<unsigned char>(s[i]) >= 0x80) return false;
    i += n;
  }
  return true;
}

} // namespace

namespace detail {

std::string ascii_filename(std::string_view name) {
  std::string out;
  for (std::size_t i = 0; i < name.size();) {
    auto n = char_length(name, i);
    auto c = static_cast<unsigned char>(name[i]);
    std::string piece;
    if (n == 1 && c >= 0x20 && c < 0x7F && c != '"' && c != '\\')
      piece = std::string(1, static_cast<char>(c));
    else if (n == 1)
      piece = "_";
    else if (n == 3 && static_cast<unsigned char>(name[i]) == 0xE2) // U+2000..U+2FFF
      piece = transliterated(((c & 0x0F) << 12) |
                             ((static_cast<unsigned char>(name[i + 1]) & 0x3F) << 6) |
                             (static_cast<unsigned char>(name[i + 2]) & 0x3F));
    else
      piece = transliterated(two_byte_code_point(name, i, n));
    // One "_" for a run of characters that have no ASCII form.
    if (!(piece == "_" && !out.empty() && out.back() == '_')) out += piece;
    i += n;
  }
  auto dot = out.rfind('.');
  std::string ext = dot != std::string::npos && dot > 0 && out.size() - dot <= 11 ? out.substr(dot)
                                                                                  : std::string();
  std::string stem = out.substr(0, out.size() - ext.size());
  if (std::none_of(stem.begin(), stem.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      }))
    stem = "attachment";
  if (stem.size() + ext.size() > max_plain_name) stem.resize(max_plain_name - ext.size());
  return stem + ext;
}

std::vector<std::string> filename_parameters(std::string_view name) {
  if (plain_name(name)) return {"filename=\"" + std::string(name) + "\""};
  // Percent-encoded character by character, so that a segment never ends inside a character:
  // each one decodes on its own, for readers that decode segments before joining them.
  std::vector<std::string> chars;
  for (std::size_t i = 0; i < name.size();) {
    auto n = char_length(name, i);
    std::string enc;
    for (std::size_t k = 0; k < n; ++k) {
      auto c = static_cast<unsigned char>(name[i + k]);
      if (n == 1 && attribute_char(c)) {
        enc += static_cast<char>(c);
      } else {
        enc += '%';
        enc += hex_digits[c >> 4];
        enc += hex_digits[c & 0xF];
      }
    }
    chars.push_back(std::move(enc));
    i += n;
  }
  std::vector<std::string> segments{"utf-8''"};
  for (const auto& c : chars) {
    if (segments.back().size() + c.size() > max_segment) segments.emplace_back();
    segments.back() += c;
  }
  std::vector<std::string> out;
  if (segments.size() == 1) {
    out.push_back("filename*=" + segments.front());
  } else {
    for (std::size_t k = 0; k < segments.size(); ++k)
      out.push_back("filename*" + std::to_string(k) + "*=" + segments[k]);
  }
  // After the RFC 2231 form: a reader that knows both takes that one (Python's email does only
  // in this order), one that does not ignores the starred names and reads this.
  out.push_back("filename=\"" + ascii_filename(name) + "\"");
  return out;
}

std::string attachment_headers(const core::attachment& a) {
  std::string type = a.content_type;
  // A text attachment's bytes are the producer's; when they are UTF-8, say so (RFC 2046 §4.1.2
  // would read them as US-ASCII otherwise).
  if (text_type(a.content_type) && looks_utf8(a.data)) type += "; charset=UTF-8";
  if (!a.filename.empty())
    type += "; name=\"" + (plain_name(a.filename) ? a.filename : ascii_filename(a.filename)) + "\"";
  std::string out = fold_header("Content-Type", type, true);
  std::string disposition = a.content_id.empty() ? "attachment" : "inline";
  if (!a.filename.empty())
    for (const auto& p : filename_parameters(a.filename))
      disposition += "; " + p;
  out += fold_header("Content-Disposition", disposition, true);
  if (!a.content_id.empty()) out += fold_header("Content-ID", "<" + a.content_id + ">", true);
  out += "Content-Transfer-Encoding: base64\r\n";
  return out;
}

entity attachment_entity(const core::attachment& a) {
  entity e;
  e.headers = attachment_headers(a);
  e.body = base64_lines(a.data);
  e.ends_with_break = !e.body.empty();
  return e;
}

entity multipart(std::string_view subtype, std::string_view params, std::string_view seed,
                 const std::vector<entity>& parts) {
  std::string boundary;
  for (int n = 0;; ++n) {
    std::string s(seed);
    if (n > 0) s += "#" + std::to_string(n);
    boundary = "=_iaposte_" + sha256_hex(s).substr(0, 24);
    bool clash = std::any_of(parts.begin(), parts.end(), [&](const entity& p) {
      return p.headers.find(boundary) != std::string::npos ||
             p.body.find(boundary) != std::string::npos;
    });
    if (!clash) break;
  }
  entity out;
  out.headers = fold_header("Content-Type",
                            "multipart/" + std::string(subtype) + "; " + std::string(params) +
                                "boundary=\"" + boundary + "\"",
                            true);
  for (const auto& p : parts) {
    out.body += "--";
    out.body += boundary;
    out.body += crlf;
    out.body += p.headers;
    out.body += crlf;
    out.body += p.body;
    if (!p.ends_with_break) out.body += crlf;
  }
  out.body += "--" + boundary + "--\r\n";
  out.ends_with_break = true;
  return out;
}

} // namespace detail

std::size_t encoded_size(const attachment& a) {
  // "--" boundary CRLF, the headers, the blank line, the base64 lines (the last CRLF is the next
  // delimiter's), or one CRLF for an empty body.
  std::size_t body = detail::base64_lines_size(a.data.size());
  return 2 + detail::boundary_size + 2 + detail::attachment_headers(a).size() + 2 +
         (body == 0 ? 2 : body);
}

std::size_t encoded_size(const std::vector<attachment>& list) {
  std::size_t n = 0;
  for (const auto& a : list)
    n += encoded_size(a);
  return n;
}

} // namespace iaposte::mime
