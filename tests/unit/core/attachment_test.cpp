// Specification of the attachment checks made at intake: base64, file names, media types,
// Content-IDs, cid: references, and the "attachments" array as a whole.
#include <doctest/doctest.h>

#include <string>

#include "core/attachment.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_core_attachment_test {

using namespace iaposte::core;
using ojson = nlohmann::ordered_json;

namespace {

// The decoded bytes, or "!" + the reason.
std::string b64(std::string_view in) {
  std::string out;
  auto why = decode_base64(in, out);
  return why.empty() ? out : "!" + why;
}

attachment inline_part(std::string id) {
  attachment a;
  a.filename = id + ".png";
  a.content_type = "image/png";
  a.data = "png";
  a.content_id = std::move(id);
  return a;
}

attachment file_part(std::string name) {
  attachment a;
  a.filename = std::move(name);
  a.content_type = "application/pdf";
  a.data = "%PDF";
  return a;
}

std::string read(const ojson& j, std::vector<attachment>& out, std::size_t max_count = 10,
                 std::size_t max_bytes = 1000) {
  return read_attachments(j, max_count, max_bytes, out);
}

} // namespace

TEST_CASE("decode_base64 decodes RFC 4648 base64, padded, with or without line breaks") {
  CHECK(b64("") == "");
  CHECK(b64("QUJD") == "ABC");
  CHECK(b64("QUI=") == "AB");
  CHECK(b64("QQ==") == "A");
  CHECK(b64("QUJD\r\nREVG") == "ABCDEF");
  CHECK(b64("QUJD\nREVG\n") == "ABCDEF");
  CHECK(b64("/+/+") == "\xff\xef\xfe");
  std::string all;
  for (int i = 0; i < 256; ++i)
    all += static_cast<char>(i);
  CHECK(
      b64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0"
          "BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgY"
          "KDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHC"
          "w8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==") ==
      all);
}

TEST_CASE("decode_base64 names the first bad character, counting from 1") {
  std::string good(56, 'A');
  CHECK(b64(good + "!AAA") ==
        "!invalid base64 at character 57 (\"!\" is not in the base64 alphabet)");
  CHECK(b64("QU JD") == "!invalid base64 at character 3 (\" \" is not in the base64 alphabet)");
  CHECK(b64("QUJDé") == "!invalid base64 at character 5 (\"é\" is not in the base64 alphabet)");
  CHECK(b64("éQUJD!") == "!invalid base64 at character 1 (\"é\" is not in the base64 alphabet)");
  CHECK(
      b64("QUJD\r\n-") ==
      "!invalid base64 at character 7 (\"-\" is not in the base64 alphabet)"); // line breaks count
  CHECK(b64("QUJDRQ") == "!invalid base64 at character 7 (the text ends inside a group of 4 "
                         "characters: missing \"=\" padding?)");
  CHECK(b64("Q===") == "!invalid base64 at character 2 (\"=\" padding too early in a group of 4)");
  CHECK(b64("QUJD=") == "!invalid base64 at character 5 (\"=\" padding too early in a group of 4)");
  CHECK(b64("QQ=A") == "!invalid base64 at character 4 (data after \"=\" padding)");
  CHECK(b64("QQ==QUJD") == "!invalid base64 at character 5 (data after the final \"=\" padding)");
  CHECK(b64("QR==") ==
        "!invalid base64 at character 2 (not canonical: its unused bits are not zero)");
  CHECK(b64("QUJ=") ==
        "!invalid base64 at character 3 (not canonical: its unused bits are not zero)");
  // A stray byte of ill-formed UTF-8 is one character (found by fuzz_attachment).
  CHECK(b64("\xa7\x93QUJD") ==
        "!invalid base64 at character 1 (\"\xa7\" is not in the base64 alphabet)");
  CHECK(b64("QUJD\r") == "!invalid base64 at character 5 (\"\\r\" is not in the base64 alphabet)");
}

TEST_CASE("check_filename accepts what a recipient can save, in any script") {
  for (const char* n : {"devis.pdf", "Devis détaillé (version 2).pdf", "报告.pdf", "a", ".profile",
                        "facture n°42 – été 2026.xlsx"})
    CHECK_MESSAGE(check_filename(n).empty(), n);
  CHECK(check_filename(std::string(255, 'a')).empty());
}

TEST_CASE("check_filename refuses paths, control and formatting characters, and over-long names") {
  CHECK(check_filename("") == "must not be empty");
  CHECK(check_filename(std::string(256, 'a')) == "longer than 255 octets (256)");
  CHECK(check_filename("../etc/passwd") == "contains a path separator \"/\": a file name only");
  CHECK(check_filename("C:\\temp\\x.pdf") ==
        "contains a path separator \"\\\\\": a file name only");
  CHECK(check_filename(".") == "\".\" is not a file name");
  CHECK(check_filename("..") == "\"..\" is not a file name");
  CHECK(check_filename("a\tb.pdf") == "contains a control character (U+0009)");
  CHECK(check_filename("a\x7f.pdf") == "contains a control character (U+007F)");
  CHECK(check_filename("a\xC2\x85.pdf") == "contains a control character (U+0085)");
  CHECK(check_filename("invoice\u202Efdp.exe") ==
        "contains U+202E, an invisible or bidirectional formatting character");
  CHECK(check_filename("a\u200Bb.pdf") ==
        "contains U+200B, an invisible or bidirectional formatting character");
  CHECK(check_filename("a\xff.pdf") == "not valid UTF-8");
  CHECK(check_filename(std::string("a\0b", 3)) == "contains a control character (U+0000)");
}

TEST_CASE("normalise_content_type gives type/subtype in lower case and refuses parameters and "
          "composite types") {
  std::string out;
  CHECK(normalise_content_type("application/PDF", out).empty());
  CHECK(out == "application/pdf");
  for (const char* t :
       {"image/svg+xml", "text/csv",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}) {
    CHECK_MESSAGE(normalise_content_type(t, out).empty(), t);
    CHECK(out == t);
  }
  CHECK(normalise_content_type("text/plain; charset=utf-8", out) ==
        "\"text/plain; charset=utf-8\": no parameters (charset, name...): only type/subtype");
  CHECK(normalise_content_type("text/plain\r\nBcc: x@y", out) ==
        "invalid media type \"text/plain\\r\\nBcc: x@y\" (expected type/subtype, e.g. "
        "application/pdf)");
  for (const char* t : {"pdf", "text/", "/plain", "a/b/c", "text/pl ain", "", "-x/y"})
    CHECK_MESSAGE(normalise_content_type(t, out).rfind("invalid media type", 0) == 0, t);
  CHECK(normalise_content_type("multipart/mixed", out) ==
        "\"multipart/mixed\" cannot be an attachment's type (multipart/* and message/* are not "
        "opaque bodies)");
  CHECK(normalise_content_type("Message/RFC822", out).find("cannot be an attachment's type") !=
        std::string::npos);
  // The refusals leave `out` as the last success made it.
  CHECK(out == "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
}

TEST_CASE("check_content_id takes id@domain of URL-safe words, at most 64 characters") {
  for (const char* id : {"logo@acme.fr", "part1.2024@mail.acme.fr", "a+b=c~d@x", "ii_lq3x!$*@a-b"})
    CHECK_MESSAGE(check_content_id(id).empty(), id);
  CHECK(check_content_id(std::string(30, 'a') + "@" + std::string(33, 'b')).empty()); // 64
  CHECK(check_content_id("logo") ==
        "invalid Content-ID \"logo\" (expected id@domain of letters, digits, dots and !$*+-_=~, "
        "at most 64, e.g. \"logo@acme.fr\")");
  for (const char* id : {"<logo@acme.fr>", "a@b@c", "lo go@x", "a@", "@b", "a..b@x", ".a@x",
                         "l%6Fgo@x", "a\"b@x", "a'b@x", "a&b@x", "", "é@x"})
    CHECK_MESSAGE(!check_content_id(id).empty(), id);
  CHECK(!check_content_id(std::string(31, 'a') + "@" + std::string(33, 'b')).empty()); // 65
}

TEST_CASE("cid: references and inline parts must match both ways") {
  std::vector<attachment> list{file_part("devis.pdf"), inline_part("logo@acme.fr"),
                               inline_part("photo@acme.fr")};
  SUBCASE("every reference form is found") {
    CHECK(
        check_inline_references(
            "<img src=\"cid:logo@acme.fr\"><div style=\"background: url( 'CID:photo@acme.fr' )\">",
            list)
            .empty());
    CHECK(check_inline_references(
              "<img src=cid:logo@acme.fr><td background=\"cid:photo%40acme.fr\">", list)
              .empty());
  }
  SUBCASE("an inline part the html does not show") {
    CHECK(check_inline_references("<img src=\"cid:logo@acme.fr\">", list) ==
          "attachments[2].content_id: \"photo@acme.fr\" is not shown by the html (no "
          "\"cid:photo@acme.fr\")");
  }
  SUBCASE("a reference with no part") {
    CHECK(check_inline_references("<img src=\"cid:logo@acme.fr\"><img src=\"cid:photo@acme.fr\">"
                                  "<img src='cid:plan@acme.fr'>",
                                  list) ==
          "html: \"cid:plan@acme.fr\" names no attachment (no content_id \"plan@acme.fr\")");
  }
  SUBCASE("inline parts without html") {
    CHECK(check_inline_references("", list) ==
          "attachments[1].content_id: an inline attachment needs an html body that shows it (as "
          "\"cid:logo@acme.fr\")");
  }
  SUBCASE("prose that mentions cid: is not a reference") {
    std::vector<attachment> files{file_part("a.pdf")};
    CHECK(check_inline_references("<p>The cid:logo scheme (RFC 2392)</p>", files).empty());
    CHECK(check_inline_references("<img src=\"cid:x@y\">", files) ==
          "html: \"cid:x@y\" names no attachment (no content_id \"x@y\")");
  }
}

TEST_CASE("read_attachments reads the array: defaults, inline parts, decoded bytes") {
  auto j = ojson::parse(R"([
    {"filename": "Devis détaillé.pdf", "content_type": "Application/PDF", "content_base64": "JVBERi0xLjQ="},
    {"content_id": "logo@acme.fr", "content_type": "image/png", "content_base64": "iVBORw=="},
    {"filename": "notes.bin", "content_base64": ""}
  ])");
  std::vector<attachment> out;
  REQUIRE(read(j, out).empty());
  REQUIRE(out.size() == 3);
  CHECK(out[0].filename == "Devis détaillé.pdf");
  CHECK(out[0].content_type == "application/pdf");
  CHECK(out[0].data == "%PDF-1.4");
  CHECK(out[0].content_id.empty());
  CHECK(out[1].filename.empty());
  CHECK(out[1].content_id == "logo@acme.fr");
  CHECK(out[1].data == "\x89PNG");
  CHECK(out[2].content_type == "application/octet-stream");
  CHECK(out[2].data.empty());
}

TEST_CASE("read_attachments names the field of every refusal") {
  std::vector<attachment> out;
  auto why = [&](const char* text, std::size_t max_count = 10, std::size_t max_bytes = 1000) {
    out.clear();
    return read(ojson::parse(text), out, max_count, max_bytes);
  };
  CHECK(why(R"({"filename": "a"})") == "attachments: must be an array (got object)");
  CHECK(why(R"(["a"])") == "attachments[0]: must be an object (got string)");
  CHECK(why(R"([{"filename": "a", "content_base64": "", "path": "/etc"}])") ==
        "attachments[0]: unknown field: \"path\"");
  CHECK(why(R"([{"filename": 7, "content_base64": ""}])") ==
        "attachments[0].filename: must be a string (got number)");
  CHECK(why(R"([{"content_base64": ""}])") == "missing required field: attachments[0].filename");
  CHECK(why(R"([{"filename": "a"}])") == "missing required field: attachments[0].content_base64");
  CHECK(why(R"([{"filename": "a", "content_base64": ""},
                {"filename": "b", "content_base64": "QUJD!"}])") ==
        "attachments[1].content_base64: invalid base64 at character 5 (\"!\" is not in the base64 "
        "alphabet)");
  CHECK(why(R"([{"filename": "../x", "content_base64": ""}])") ==
        "attachments[0].filename: contains a path separator \"/\": a file name only");
  CHECK(why(R"([{"filename": "a", "content_type": "text/html; charset=x", "content_base64": ""}])")
            .rfind("attachments[0].content_type: ", 0) == 0);
  CHECK(why(R"([{"content_id": "logo", "content_base64": ""}])")
            .rfind("attachments[0].content_id: invalid Content-ID \"logo\"", 0) == 0);
  CHECK(why(R"([{"content_id": "a@b", "content_base64": ""},
                {"content_id": "a@b", "content_base64": ""}])") ==
        "attachments[1].content_id: \"a@b\" is already the content_id of attachments[0]");
  CHECK(why(R"([{"filename": "a", "content_base64": ""}, {"filename": "b", "content_base64": ""}])",
            1) == "attachments: too many (2 > 1)");
  CHECK(
      why(R"([{"filename": "a", "content_base64": "QUJD"}, {"filename": "b", "content_base64": "QUJD"}])",
          10, 5) == "attachments: too large: 6 bytes decoded > 5");
}

} // namespace test_unit_core_attachment_test
