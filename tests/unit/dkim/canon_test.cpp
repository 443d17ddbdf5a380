// Relaxed canonicalisation (RFC 6376 §3.4.2, §3.4.4) and the splitting of a message into
// header fields and body.
#include <doctest/doctest.h>

#include "dkim/canon.hpp"
#include "dkim/dkim.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_dkim_canon_test {

using namespace iaposte::dkim::detail;

TEST_CASE("RFC 6376 §3.4.5's example: relaxed header and body") {
  auto m = parse_message("A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n");
  REQUIRE(m.headers.size() == 2);
  CHECK(m.headers[0].name == "A");
  CHECK(m.headers[1].name == "B");
  CHECK(m.headers[1].raw == "B : Y\t\r\n\tZ  ");
  CHECK(relaxed_header(m.headers[0].raw) == "a:X\r\n");
  CHECK(relaxed_header(m.headers[1].raw) == "b:Y Z\r\n");
  CHECK(relaxed_body(m.body) == " C\r\nD E\r\n");
}

TEST_CASE("relaxed header: the name lower-cased, the value unfolded and its whitespace runs "
          "made one space, nothing at either end") {
  CHECK(relaxed_header("Subject:   Hello\t \tworld   ") == "subject:Hello world\r\n");
  CHECK(relaxed_header("Subject:\r\n Hello\r\n\tworld") == "subject:Hello world\r\n");
  CHECK(relaxed_header("X-Empty:") == "x-empty:\r\n");
  CHECK(relaxed_header("X-Empty:  \t ") == "x-empty:\r\n");
  CHECK(relaxed_header("Message-ID:<a@b>") == "message-id:<a@b>\r\n");
  // Only SP and HTAB are WSP: other bytes stay, UTF-8 included.
  CHECK(relaxed_header("To: Hélène \x0b <h@e.fr>") == "to:Hélène \x0b <h@e.fr>\r\n");
}

TEST_CASE("relaxed body: trailing whitespace and empty lines at the end go, a missing final "
          "CRLF is added, an empty body stays empty") {
  CHECK(relaxed_body("") == "");
  CHECK(relaxed_body("\r\n") == "");
  CHECK(relaxed_body("\r\n\r\n  \r\n\t\r\n") == "");
  CHECK(relaxed_body("abc") == "abc\r\n");
  CHECK(relaxed_body("abc \t") == "abc\r\n");
  CHECK(relaxed_body("a  b\t\tc \r\n\r\nd\r\n \r\n") == "a b c\r\n\r\nd\r\n");
  CHECK(relaxed_body("  lead\r\n") == " lead\r\n");
}

TEST_CASE("parse_message: continuation lines belong to their field; no body without the "
          "empty line; the body starts after it") {
  auto m = parse_message("Subject: a\r\n b\r\nTo: x\r\n");
  REQUIRE(m.headers.size() == 2);
  CHECK(m.headers[0].raw == "Subject: a\r\n b");
  CHECK(m.headers[1].raw == "To: x");
  CHECK(m.body.empty());
  m = parse_message("To: x\r\n\r\n\r\nbody\r\n");
  CHECK(m.body == "\r\nbody\r\n");
  m = parse_message("");
  CHECK(m.headers.empty());
  m = parse_message("\r\nonly a body\r\n");
  CHECK(m.headers.empty());
  CHECK(m.body == "only a body\r\n");
  // An obsolete space before the colon is not part of the name (RFC 5322 §4.5).
  m = parse_message("Subject \t: x\r\n\r\n");
  CHECK(m.headers.at(0).name == "Subject");
}

TEST_CASE("same_name compares field names without regard to ASCII case") {
  CHECK(same_name("Message-ID", "message-id"));
  CHECK(same_name("FROM", "From"));
  CHECK_FALSE(same_name("From", "Fro"));
  CHECK_FALSE(same_name("From", "Frm:"));
}

} // namespace test_unit_dkim_canon_test
