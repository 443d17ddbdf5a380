// Specification of the MIME building blocks: encoded-words, quoted-printable, base64, dates, ids.
#include <doctest/doctest.h>

#include <vector>

#include "decode.hpp"
#include "mime/compose.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_mime_encoding_test {

using namespace iaposte::mime;
using namespace iaposte::mime::test;

namespace {

std::vector<std::string> split(const std::string& s, std::string_view sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return out;
    start = p + sep.size();
  }
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

// Every word is a complete encoded-word of at most 75 characters holding whole characters.
std::string decode_words(const std::string& encoded) {
  std::string out;
  for (const auto& w : split(encoded, " ")) {
    CHECK_MESSAGE(w.size() <= 75, w);
    REQUIRE_MESSAGE(w.rfind("=?UTF-8?", 0) == 0, w);
    auto piece = decode_word(w);
    CHECK_MESSAGE(valid_utf8(piece), "a word splits a character: " << w);
    out += piece;
  }
  return out;
}

} // namespace

TEST_CASE("encode_word leaves plain ASCII alone") {
  CHECK(encode_word("Votre devis") == "Votre devis");
  CHECK(encode_word("") == "");
  CHECK(encode_word("a, b; (c) \"d\"") == "a, b; (c) \"d\"");
}

TEST_CASE("encode_word uses Q for mostly-ASCII text") {
  CHECK(encode_word("Hélène") == "=?UTF-8?Q?H=C3=A9l=C3=A8ne?=");
  CHECK(encode_word("Votre devis, Hélène") == "=?UTF-8?Q?Votre_devis=2C_H=C3=A9l=C3=A8ne?=");
  // "=?" would be read as the start of an encoded-word; "_" and "=" are escaped in Q.
  CHECK(encode_word("a=?b") == "=?UTF-8?Q?a=3D=3Fb?=");
  CHECK(encode_word("x_y\tz\x01") == "=?UTF-8?Q?x=5Fy=09z=01?=");
}

TEST_CASE("encode_word uses B for mostly non-ASCII text") {
  CHECK(encode_word("你好，世界") == "=?UTF-8?B?5L2g5aW977yM5LiW55WM?=");
}

TEST_CASE("long text becomes several words of at most 75 characters, split between characters") {
  std::string french;
  for (int i = 0; i < 20; ++i)
    french += "Hélène à Ça été ";
  std::string chinese;
  for (int i = 0; i < 40; ++i)
    chinese += "邮件服务";
  std::string emoji;
  for (int i = 0; i < 30; ++i)
    emoji += "a😀";
  for (const auto& text : {french, chinese, emoji}) {
    auto encoded = encode_word(text);
    CHECK(split(encoded, " ").size() > 1);
    CHECK(decode_words(encoded) == text);
  }
}

TEST_CASE("quoted_printable escapes '=' and non-ASCII, keeps the rest readable") {
  CHECK(quoted_printable("a=b") == "a=3Db");
  CHECK(quoted_printable("Hélène à ça") == "H=C3=A9l=C3=A8ne =C3=A0 =C3=A7a");
  CHECK(quoted_printable("tab\there") == "tab\there");
  CHECK(quoted_printable("") == "");
}

TEST_CASE("quoted_printable encodes whitespace before a line break") {
  CHECK(quoted_printable("trailing \r\nnext") == "trailing=20\r\nnext");
  CHECK(quoted_printable("tab\t\r\n") == "tab=09\r\n");
  CHECK(quoted_printable("end ") == "end=20");
  CHECK(quoted_printable("a  b") == "a  b");
}

TEST_CASE("quoted_printable keeps CRLF as line breaks and encodes lone CR or LF") {
  CHECK(quoted_printable("a\r\nb\r\n") == "a\r\nb\r\n");
  CHECK(quoted_printable("a\nb\rc") == "a=0Ab=0Dc");
}

TEST_CASE("quoted_printable soft-breaks lines at 76 characters") {
  CHECK(quoted_printable(std::string(76, 'a')) == std::string(76, 'a'));
  CHECK(quoted_printable(std::string(77, 'a')) == std::string(75, 'a') + "=\r\naa");
  auto out = quoted_printable(std::string(1000, 'x') + "\r\n" + std::string(200, 'y'));
  for (const auto& line : split(out, "\r\n"))
    CHECK(line.size() <= 76);
  CHECK(decode_qp(out) == std::string(1000, 'x') + "\r\n" + std::string(200, 'y'));
}

TEST_CASE("quoted_printable never splits an =XX escape across a soft break") {
  std::string in = std::string(74, 'a') + "ééé";
  auto out = quoted_printable(in);
  CHECK(out == std::string(74, 'a') + "=\r\n=C3=A9=C3=A9=C3=A9");
  for (const auto& line : split(out, "\r\n"))
    CHECK(line.size() <= 76);
  CHECK(decode_qp(out) == in);
}

TEST_CASE("a lone '.' line survives quoted-printable") {
  std::string in = "avant\r\n.\r\naprès\r\n..\r\n";
  auto out = quoted_printable(in);
  CHECK(out.find("\r\n.\r\n") != std::string::npos);
  CHECK(decode_qp(out) == in);
}

TEST_CASE("quoted_printable round-trips every byte value") {
  std::string all;
  for (int c = 0; c < 256; ++c)
    all += static_cast<char>(c);
  all += " \r\n\t\r\n" + all;
  auto out = quoted_printable(all);
  for (const auto& line : split(out, "\r\n"))
    CHECK(line.size() <= 76);
  CHECK(decode_qp(out) == all);
}

TEST_CASE("base64_lines: 76-character lines, each ending with CRLF") {
  CHECK(base64_lines("") == "");
  CHECK(base64_lines("M") == "TQ==\r\n");
  CHECK(base64_lines("Ma") == "TWE=\r\n");
  CHECK(base64_lines("Man") == "TWFu\r\n");
  CHECK(base64_lines(std::string(57, 'a')).size() == 76 + 2);
  auto two = base64_lines(std::string(58, 'a'));
  CHECK(two.size() == 76 + 2 + 4 + 2);
  CHECK(two.substr(76, 2) == "\r\n");
  std::string bytes;
  for (int i = 0; i < 1000; ++i)
    bytes += static_cast<char>(i * 7 % 256);
  auto out = base64_lines(bytes);
  for (const auto& line : split(out, "\r\n"))
    CHECK(line.size() <= 76);
  CHECK(decode_base64(out) == bytes);
}

TEST_CASE("rfc5322_date formats UTC with a +0000 zone") {
  using namespace std::chrono;
  auto t = sys_days{year{2026} / November / 25} + 17h + 9min + 24s + 999ms;
  CHECK(rfc5322_date(t) == "Wed, 25 Nov 2026 17:09:24 +0000");
  CHECK(rfc5322_date(sys_days{year{2026} / March / 5}) == "Thu, 05 Mar 2026 00:00:00 +0000");
  CHECK(rfc5322_date(system_clock::time_point{}) == "Thu, 01 Jan 1970 00:00:00 +0000");
}

TEST_CASE("make_message_id hashes tenant and request_id, then the domain") {
  // Expected values from Python: hashlib.sha256(b"acme\0req-0001").hexdigest()[:32]
  CHECK(make_message_id("acme", "req-0001", "acme.example") ==
        "<76c7a475451cce14634024eb0788037f@acme.example>");
  CHECK(make_message_id("atelier-durand", "devis-2026-11-25:000042", "atelier-durand.fr") ==
        "<fc5aa0bd5d201152e2703a7d24551efb@atelier-durand.fr>");
  // The separator keeps ("ab", "c") apart from ("a", "bc").
  CHECK(make_message_id("ab", "c", "x") != make_message_id("a", "bc", "x"));
  CHECK(make_message_id("acme", "req-0001", "a") == make_message_id("acme", "req-0001", "a"));
}

TEST_CASE("make_message_id writes an internationalised domain in A-labels: a Message-ID stays "
          "ASCII") {
  CHECK(make_message_id("acme", "req-0001", "exemple-été.fr") ==
        "<76c7a475451cce14634024eb0788037f@xn--exemple-t-i4ab.fr>");
}

} // namespace test_unit_mime_encoding_test
