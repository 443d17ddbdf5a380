// core/text.hpp: UTF-8 validation and the cleaning of text bound for events, logs and rows.
#include <doctest/doctest.h>

#include <string>

#include "core/text.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_core_text_test {

using namespace iaposte::core;

TEST_CASE("invalid_utf8_at finds the first byte that is not UTF-8, npos for valid text") {
  CHECK(invalid_utf8_at("") == std::string::npos);
  CHECK(invalid_utf8_at("Hélène, 日本, 😀") == std::string::npos);
  CHECK(invalid_utf8_at("abc\xff") == 3);
  CHECK(invalid_utf8_at("\x80") == 0);             // a lone continuation byte
  CHECK(invalid_utf8_at("ab\xc3") == 2);           // cut in the middle of a sequence
  CHECK(invalid_utf8_at("\xc0\xaf") == 0);         // overlong form of '/'
  CHECK(invalid_utf8_at("\xe0\x80\xaf") == 0);     // overlong, three bytes
  CHECK(invalid_utf8_at("x\xed\xa0\x80") == 1);    // a surrogate (U+D800)
  CHECK(invalid_utf8_at("\xf4\x90\x80\x80") == 0); // above U+10FFFF
  CHECK(invalid_utf8_at("\xf0\x9f\x98\x80") == std::string::npos); // U+1F600
}

TEST_CASE("clean_text replaces each invalid sequence by U+FFFD and keeps valid text as is") {
  CHECK(clean_text("Hélène") == "Hélène");
  CHECK(clean_text("a\xff"
                   "b") == "a\xEF\xBF\xBD"
                           "b");
  CHECK(clean_text("\xc3") == "\xEF\xBF\xBD");
  CHECK(clean_text(std::string("n\0ul", 4)) == std::string("n\0ul", 4)); // NUL is valid UTF-8
  CHECK(invalid_utf8_at(clean_text("\xed\xa0\x80\xc0\xaf\xfe\xff")) == std::string::npos);
}

TEST_CASE("clean_text bounds the length at a code point boundary and marks the cut") {
  const std::string long_text(5000, 'x');
  auto out = clean_text(long_text, 100);
  CHECK(out.size() == 100);
  CHECK(out.substr(97) == "...");
  // 'é' is two bytes: the cut never splits one.
  std::string accents;
  for (int i = 0; i < 100; ++i)
    accents += "é";
  auto cut = clean_text(accents, 50);
  CHECK(cut.size() <= 50);
  CHECK(invalid_utf8_at(cut) == std::string::npos);
  CHECK(cut.substr(cut.size() - 3) == "...");
  CHECK(clean_text("short", 5) == "short"); // exactly at the bound: not cut
  CHECK(clean_text("toolong", 2).size() <= 2);
}

} // namespace test_unit_core_text_test
