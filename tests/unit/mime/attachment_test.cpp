// Specification of attachment parts: RFC 2231 file names, the ASCII fallback, the structure
// compose() chooses, and encoded_size() against the composed bytes.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "decode.hpp"
#include "mime/compose.hpp"
#include "mime/detail.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_mime_attachment_test {

using namespace iaposte;
using namespace std::chrono_literals;
namespace detail = iaposte::mime::detail;

namespace {

core::request base_request() {
  core::request r;
  r.request_id = "r-1";
  r.tenant = "acme";
  r.from = {"", "noreply@acme.example"};
  r.to = {{"", "client@example.org"}};
  return r;
}

const auto date = std::chrono::system_clock::time_point{} + 1764090564s;

mime::attachment file(std::string name, std::string data, std::string type = "application/pdf") {
  return {std::move(name), std::move(type), std::move(data), {}};
}

mime::attachment inline_image(std::string id, std::string data) {
  return {"", "image/png", std::move(data), std::move(id)};
}

// The file name back from Content-Disposition parameters, as an RFC 2231 reader does it
// (written independently: segments joined in order, then percent-decoded), else the plain one.
std::string read_filename(const std::vector<std::string>& params) {
  std::string extended, plain;
  bool has_extended = false;
  for (const auto& p : params) {
    auto eq = p.find('=');
    auto attr = p.substr(0, eq), value = p.substr(eq + 1);
    if (attr == "filename") {
      plain = value.substr(1, value.size() - 2);
    } else {
      has_extended = true;
      if (attr == "filename*" || attr == "filename*0*") {
        REQUIRE(value.rfind("utf-8''", 0) == 0);
        value = value.substr(7);
      }
      extended += value;
    }
  }
  if (!has_extended) return plain;
  std::string out;
  for (std::size_t i = 0; i < extended.size(); ++i) {
    if (extended[i] == '%') {
      out += static_cast<char>(mime::test::hex_value(extended[i + 1]) * 16 +
                               mime::test::hex_value(extended[i + 2]));
      i += 2;
    } else {
      out += extended[i];
    }
  }
  return out;
}

bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    auto n = detail::char_length(s, i);
    if (n == 1 && static_cast<unsigned char>(s[i]) >= 0x80) return false;
    i += n;
  }
  return true;
}

// The content type of every part, depth first ("multipart/mixed", then its parts...).
std::vector<std::string> content_types(const std::string& msg) {
  std::vector<std::string> out;
  for (auto p = msg.find("Content-Type: "); p != std::string::npos;
       p = msg.find("Content-Type: ", p + 1)) {
    auto end = msg.find_first_of(";\r", p);
    out.push_back(msg.substr(p + 14, end - p - 14));
  }
  return out;
}

} // namespace

TEST_CASE("a short printable ASCII file name is one quoted filename= parameter") {
  CHECK(detail::filename_parameters("devis 2026 (v2).pdf") ==
        std::vector<std::string>{"filename=\"devis 2026 (v2).pdf\""});
}

TEST_CASE("a non-ASCII file name: filename*=utf-8'' percent-encoded, then the ASCII fallback") {
  CHECK(detail::filename_parameters("Devis détaillé.pdf") ==
        std::vector<std::string>{"filename*=utf-8''Devis%20d%C3%A9taill%C3%A9.pdf",
                                 "filename=\"Devis detaille.pdf\""});
  // tspecials, '*', '\'' and '%' are encoded; a quote or backslash never reaches a quoted string.
  CHECK(detail::filename_parameters("a\"b\\c'd*e%f;g.txt") ==
        std::vector<std::string>{"filename*=utf-8''a%22b%5Cc%27d%2Ae%25f%3Bg.txt",
                                 "filename=\"a_b_c'd*e%f;g.txt\""});
}

TEST_CASE("a long file name is split into RFC 2231 continuations within 76 columns, never inside "
          "a character, and reads back whole") {
  std::string name;
  for (int i = 0; i < 40; ++i)
    name += "été ";
  name += "报告.pdf"; // 40 * 7 + 10 = 254 octets
  REQUIRE(name.size() <= 255);
  auto params = detail::filename_parameters(name);
  REQUIRE(params.size() > 3);
  for (std::size_t k = 0; k + 1 < params.size(); ++k) {
    CHECK(params[k].rfind("filename*" + std::to_string(k) + "*=", 0) == 0);
    CHECK_MESSAGE(params[k].size() + 2 <= 76, params[k]); // " " + param + ";"
    // Each segment decodes to whole characters.
    auto value = params[k].substr(params[k].find('=') + 1);
    if (k == 0) value = value.substr(7); // utf-8''
    CHECK(valid_utf8(read_filename({"filename*=utf-8''" + value})));
  }
  CHECK(read_filename(params) == name);
  CHECK(params.back().rfind("filename=\"", 0) == 0);
  CHECK(params.back().size() <= 72);
}

TEST_CASE("a long ASCII name also goes to RFC 2231, its quoted fallback shortened") {
  std::string name(100, 'x');
  name += ".pdf";
  auto params = detail::filename_parameters(name);
  CHECK(read_filename(params) == name);
  CHECK(params.back() == "filename=\"" + std::string(56, 'x') + ".pdf\"");
}

TEST_CASE("RFC 2231 parameters read back to any valid file name") {
  std::mt19937 rng(7);
  const std::vector<std::string> alphabet{"a", "Z", "0", " ", ".", "-",  "%", "'",  "*", "\"",
                                          ";", "é", "ß", "Œ", "–", "报", "😀", "\\", "=", "~"};
  for (int round = 0; round < 500; ++round) {
    std::string name;
    auto len = 1 + rng() % 80;
    while (name.size() < len)
      name += alphabet[rng() % alphabet.size()];
    auto params = detail::filename_parameters(name);
    CHECK_MESSAGE(read_filename(params) == name, name);
    for (const auto& p : params) {
      CHECK_MESSAGE(p.size() + 2 <= 76, p);
      for (char c : p)
        CHECK(static_cast<unsigned char>(c) < 0x80);
    }
  }
}

TEST_CASE("ascii_filename keeps legible Latin, the extension, and at most 60 characters") {
  CHECK(detail::ascii_filename("Ça coûte à l'œil – été.pdf") == "Ca coute a l'oeil - ete.pdf");
  CHECK(detail::ascii_filename("报告.pdf") == "attachment.pdf");
  CHECK(detail::ascii_filename("报告") == "attachment");
  CHECK(detail::ascii_filename("résumé 报告 2026.docx") == "resume _ 2026.docx");
  auto long_name = detail::ascii_filename(std::string(80, 'a') + ".tar.gz");
  CHECK(long_name == std::string(57, 'a') + ".gz");
}

TEST_CASE("the structure is only as nested as the content needs") {
  auto r = base_request();
  auto types = [&](mime::content c) { return content_types(mime::compose(r, c, "<s@x>", date)); };
  using v = std::vector<std::string>;
  CHECK(types({"s", "t", "", {file("a.pdf", "x")}}) ==
        v{"multipart/mixed", "text/plain", "application/pdf"});
  CHECK(types({"s", "", "<img src=\"cid:a@x\">", {inline_image("a@x", "p")}}) ==
        v{"multipart/related", "text/html", "image/png"});
  CHECK(types({"s", "t", "<img src=\"cid:a@x\">", {inline_image("a@x", "p")}}) ==
        v{"multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png"});
  CHECK(
      types({"s", "t", "<img src=\"cid:a@x\">", {file("f.pdf", "x"), inline_image("a@x", "p")}}) ==
      v{"multipart/mixed", "multipart/alternative", "text/plain", "multipart/related", "text/html",
        "image/png", "application/pdf"});
  CHECK(types({"s", "t", "<p>h</p>", {}}) == v{"multipart/alternative", "text/plain", "text/html"});
  // An inline part with nothing to show it (the intake refuses this) still goes out, attached.
  auto msg = mime::compose(r, {"s", "t", "", {inline_image("a@x", "p")}}, "<s@x>", date);
  CHECK(content_types(msg) == v{"multipart/mixed", "text/plain", "image/png"});
  CHECK(msg.find("Content-Disposition: inline\r\nContent-ID: <a@x>\r\n") != std::string::npos);
}

TEST_CASE("attachment part headers: type with name=, disposition, Content-ID, base64") {
  auto h = detail::attachment_headers(file("Résumé.txt", "été\n", "text/plain"));
  CHECK(h == "Content-Type: text/plain; charset=UTF-8; name=\"Resume.txt\"\r\n"
             "Content-Disposition: attachment; filename*=utf-8''R%C3%A9sum%C3%A9.txt;\r\n"
             " filename=\"Resume.txt\"\r\n"
             "Content-Transfer-Encoding: base64\r\n");
  // Not UTF-8: no charset claimed.
  CHECK(detail::attachment_headers(file("l.txt", "\xe9t\xe9", "text/plain"))
            .rfind("Content-Type: text/plain; name=\"l.txt\"\r\n", 0) == 0);
  CHECK(detail::attachment_headers(inline_image("logo@acme.fr", "p")) ==
        "Content-Type: image/png\r\nContent-Disposition: inline\r\n"
        "Content-ID: <logo@acme.fr>\r\nContent-Transfer-Encoding: base64\r\n");
}

TEST_CASE("attachment bodies are base64 in 76-column lines and decode to their bytes") {
  std::string data;
  for (int i = 0; i < 1000; ++i)
    data += static_cast<char>(i * 7);
  auto msg = mime::compose(base_request(), {"s", "t", "", {file("b.bin", data)}}, "<s@x>", date);
  auto start = msg.find("\r\n\r\n", msg.find("filename=\"b.bin\"")) + 4;
  auto end = msg.find("--=_iaposte_", start);
  auto body = msg.substr(start, end - start);
  for (std::size_t p = 0; p < body.size();) {
    auto eol = body.find("\r\n", p);
    REQUIRE(eol != std::string::npos);
    CHECK((eol - p == 76 || body.find("\r\n", eol + 2) == std::string::npos));
    p = eol + 2;
  }
  CHECK(mime::test::decode_base64(body) == data);
}

TEST_CASE("encoded_size is what each attachment adds to the composed message") {
  auto r = base_request();
  const std::string mid = "<size@x>";
  std::vector<mime::attachment> all{
      file("Devis détaillé de la rénovation complète.pdf", std::string(5000, 'p')),
      file("vide.bin", ""), file("notes.csv", "a;b\n", "text/csv"),
      file(std::string(200, 'n') + ".pdf", std::string(77, 'q'))};
  mime::content c{"s", "t", "<p>h</p>", {all[0]}};
  auto size_with_first = mime::compose(r, c, mid, date).size();
  for (std::size_t k = 1; k < all.size(); ++k) {
    c.attachments.push_back(all[k]);
    auto before = c.attachments;
    before.pop_back();
    auto without = mime::compose(r, {"s", "t", "<p>h</p>", before}, mid, date).size();
    auto with = mime::compose(r, c, mid, date).size();
    CHECK_MESSAGE(with - without == mime::encoded_size(all[k]), all[k].filename);
  }
  // Inline parts in multipart/related add the same.
  auto html = std::string("<img src=\"cid:a@x\"><img src=\"cid:b@x\">");
  auto one = mime::compose(r, {"s", "", html, {inline_image("a@x", "12345")}}, mid, date).size();
  auto two =
      mime::compose(r, {"s", "", html, {inline_image("a@x", "12345"), inline_image("b@x", "678")}},
                    mid, date)
          .size();
  CHECK(two - one == mime::encoded_size(inline_image("b@x", "678")));
  CHECK(mime::encoded_size(all) == mime::encoded_size(all[0]) + mime::encoded_size(all[1]) +
                                       mime::encoded_size(all[2]) + mime::encoded_size(all[3]));
  CHECK(size_with_first > mime::encoded_size(all[0]));
}

TEST_CASE("boundaries differ by level and avoid a 7bit text that contains one") {
  auto r = base_request();
  const std::string mid = "<nest@x>";
  mime::content c{
      "s", "t", "<img src=\"cid:a@x\">", {file("f.pdf", "x"), inline_image("a@x", "p")}};
  auto msg = mime::compose(r, c, mid, date);
  std::vector<std::string> boundaries;
  for (auto p = msg.find("boundary=\""); p != std::string::npos; p = msg.find("boundary=\"", p + 1))
    boundaries.push_back(msg.substr(p + 10, detail::boundary_size));
  REQUIRE(boundaries.size() == 3);
  CHECK(boundaries[0] != boundaries[1]);
  CHECK(boundaries[1] != boundaries[2]);
  CHECK(boundaries[0] != boundaries[2]);
  // A text that carries the mixed boundary makes that level pick the next candidate.
  c.text = "--" + boundaries[0] + "\r\nhijack";
  auto moved = mime::compose(r, c, mid, date);
  CHECK(moved.find("boundary=\"" + boundaries[0] + "\"") == std::string::npos);
  CHECK(moved == mime::compose(r, c, mid, date));
}

} // namespace test_unit_mime_attachment_test
