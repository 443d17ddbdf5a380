// libFuzzer target for attachment intake and encoding (lib/core/attachment.cpp,
// lib/mime/attachment.cpp): arbitrary bytes as base64, a file name, a media type, a Content-ID
// and an HTML body.
//
// Checked beyond "no crash, no sanitizer report":
//  - decode_base64: accepted text is canonical base64 (re-encoding the bytes gives it back, line
//    breaks aside); a refusal names a character inside the text, or one past its end;
//  - a file name check_filename() accepts: its Content-Disposition parameters are ASCII, fit a
//    76-column line each, and read back (RFC 2231 joined and percent-decoded) to the name; the
//    ASCII fallback is printable, without '"' or '\\', at most 60; the part headers have only
//    CRLF line ends, lines of at most 78 octets;
//  - an accepted media type is "type/subtype", lower case, no ';', no space or control;
//  - an accepted Content-ID is id@domain, at most 64, without '<', '>', quotes or spaces;
//  - check_inline_references never throws, and accepts an HTML that shows exactly its parts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/attachment.hpp"
#include "mime/compose.hpp"
#include "mime/detail.hpp"

namespace core = iaposte::core;
namespace detail = iaposte::mime::detail;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_attachment: property broken: %s\n", what);
  std::abort();
}
#define EXPECT(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) fail(#cond);                                                                      \
  } while (0)

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The name back from the parameters, written independently of lib/mime.
std::string read_back(const std::vector<std::string>& params) {
  std::string joined, plain;
  bool extended = false;
  for (const auto& p : params) {
    auto eq = p.find('=');
    EXPECT(eq != std::string::npos);
    auto attr = p.substr(0, eq), value = p.substr(eq + 1);
    if (attr == "filename") {
      EXPECT(value.size() >= 2 && value.front() == '"' && value.back() == '"');
      plain = value.substr(1, value.size() - 2);
      continue;
    }
    extended = true;
    if (attr == "filename*" || attr == "filename*0*") {
      EXPECT(value.rfind("utf-8''", 0) == 0);
      value = value.substr(7);
    }
    joined += value;
  }
  if (!extended) return plain;
  std::string out;
  for (std::size_t i = 0; i < joined.size(); ++i) {
    if (joined[i] == '%') {
      EXPECT(i + 2 < joined.size() && hex(joined[i + 1]) >= 0 && hex(joined[i + 2]) >= 0);
      out += static_cast<char>(hex(joined[i + 1]) * 16 + hex(joined[i + 2]));
      i += 2;
    } else {
      out += joined[i];
    }
  }
  return out;
}

void check_base64(const std::string& in) {
  std::string out;
  auto why = core::decode_base64(in, out);
  if (why.empty()) {
    std::string flat;
    for (char c : in)
      if (c != '\r' && c != '\n') flat += c;
    EXPECT(detail::base64(out) == flat);
    return;
  }
  EXPECT(why.rfind("invalid base64 at character ", 0) == 0);
  auto n = std::strtoull(why.c_str() + 28, nullptr, 10);
  EXPECT(n >= 1 && n <= in.size() + 1);
}

void check_filename(const std::string& name) {
  if (!core::check_filename(name).empty()) return;
  auto params = detail::filename_parameters(name);
  for (const auto& p : params) {
    EXPECT(p.size() + 2 <= 76);
    for (char c : p)
      EXPECT(static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7F);
  }
  EXPECT(read_back(params) == name);
  auto fallback = detail::ascii_filename(name);
  EXPECT(!fallback.empty() && fallback.size() <= 60);
  for (char c : fallback)
    EXPECT(c >= 0x20 && c < 0x7F && c != '"' && c != '\\');
  core::attachment a{name, "application/octet-stream", name, {}};
  auto h = detail::attachment_headers(a);
  std::size_t start = 0;
  while (start < h.size()) {
    auto eol = h.find("\r\n", start);
    EXPECT(eol != std::string::npos);
    EXPECT(eol - start <= 78);
    for (std::size_t i = start; i < eol; ++i)
      EXPECT(h[i] != '\r' && h[i] != '\n');
    start = eol + 2;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  check_base64(in);
  check_filename(in);

  std::string type;
  if (core::normalise_content_type(in, type).empty()) {
    EXPECT(std::count(type.begin(), type.end(), '/') == 1);
    for (char c : type)
      EXPECT(c > 0x20 && c < 0x7F && c != ';' && !(c >= 'A' && c <= 'Z'));
  }
  if (core::check_content_id(in).empty()) {
    EXPECT(in.size() <= 64 && std::count(in.begin(), in.end(), '@') == 1);
    EXPECT(in.find_first_of("<>\"' \t\r\n%&") == std::string::npos);
    // An HTML that shows it is accepted; the same HTML without a part is not.
    std::vector<core::attachment> parts{{"", "image/png", "x", in}};
    EXPECT(core::check_inline_references("<img src=\"cid:" + in + "\">", parts).empty());
    EXPECT(!core::check_inline_references("<img src=\"cid:" + in + "\">", {}).empty());
  }
  std::vector<core::attachment> some{{"a", "image/png", "x", "logo@acme.fr"},
                                     {"b", "application/pdf", "y", ""}};
  (void)core::check_inline_references(in, some);
  return 0;
}
