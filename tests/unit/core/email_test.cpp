// Specification of valid_email, check_email (internationalised addresses) and header_safe.
#include <doctest/doctest.h>

#include <string>

#include "core/idn.hpp"
#include "core/request.hpp"
#include "core/syntax.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_core_email_test {

using iaposte::core::header_safe;
using iaposte::core::valid_email;
namespace detail = iaposte::core::detail;
namespace idn = iaposte::core::idn;

namespace {

// The form check_email() keeps, or "!" + the detail of the refusal.
std::string checked(const std::string& email) {
  std::string out;
  if (auto why = detail::check_email(email, out)) return "!" + *why;
  return out;
}

} // namespace

TEST_CASE("valid_email accepts ordinary and unusual-but-legal addresses") {
  for (const char* e : {"user@example.org", "first.last+tag@sub.example.co.uk",
                        "o'brien@example.ie", "a@b", "postmaster@localhost", "x_y-z=1@a-b.example",
                        "user@[192.0.2.1]", "user@[IPv6:2001:db8::1]", "!#$%&'*+/=?^_`{|}~-@x.org"})
    CHECK_MESSAGE(valid_email(e), e);
}

TEST_CASE("valid_email rejects what it must") {
  for (const char* e : {"",
                        "foo@",
                        "@example.org",
                        "plain",
                        "a b@example.org",
                        "a@exa mple.org",
                        "a..b@example.org",
                        ".a@example.org",
                        "a.@example.org",
                        "a@example..org",
                        "a@example.org.",
                        "a@-example.org",
                        "a@example-.org",
                        "a@ex_ample.org",
                        "\"quoted\"@example.org",
                        "a@b@example.org",
                        "a@[999.0.0.1]",
                        "a@[IPv6:zz::1]",
                        "a@[192.0.2.1",
                        "a\r\n@example.org",
                        "a@example.org\n",
                        "a\t@example.org"})
    CHECK_MESSAGE(!valid_email(e), e);
  CHECK_FALSE(valid_email(std::string("a\0b@example.org", 15)));
  // inet_pton stops at a NUL: the literal must not pass on its first half (found by fuzz_address).
  const char v6[] = "user@[IPv6:2001:db8::\0\0\x31]", v4[] = "user@[192.0.2.1\0zz]";
  CHECK_FALSE(valid_email(std::string(v6, sizeof v6 - 1)));
  CHECK_FALSE(valid_email(std::string(v4, sizeof v4 - 1)));
  CHECK(valid_email("user@[IPv6:2001:db8::1]")); // the same without the NUL
}

TEST_CASE("valid_email length limits: local part 64, address 254, label 63") {
  CHECK(valid_email(std::string(64, 'a') + "@example.org"));
  CHECK_FALSE(valid_email(std::string(65, 'a') + "@example.org"));
  CHECK(valid_email("a@" + std::string(63, 'b') + ".org"));
  CHECK_FALSE(valid_email("a@" + std::string(64, 'b') + ".org"));
  std::string domain;
  while (domain.size() < 250)
    domain += std::string(49, 'd') + ".";
  domain = domain.substr(0, 247) + "org"; // 250 characters
  CHECK(valid_email("abc@" + domain));    // 254
  CHECK_FALSE(valid_email("abcd@" + domain));
}

TEST_CASE("header_safe refuses CR, LF and NUL only") {
  CHECK(header_safe("Votre devis, Hélène\t(été)"));
  CHECK(header_safe(""));
  CHECK_FALSE(header_safe("a\rb"));
  CHECK_FALSE(header_safe("a\nb"));
  CHECK_FALSE(header_safe(std::string("a\0b", 3)));
}

TEST_CASE("internationalised addresses are valid: UTF-8 local parts (RFC 6531) and IDN domains in "
          "U-labels or A-labels") {
  for (const char* e : {"hélène@exemple-été.fr", "hélène@exemple.fr", "a@exämple.org",
                        "δοκιμή@παράδειγμα.δοκιμή", "用户@例子.广告", "user@xn--exemple-t-i4ab.fr",
                        "Jörg.Müller+devis@straße.de", "θσερ@[192.0.2.1]"})
    CHECK_MESSAGE(valid_email(e), e);
}

TEST_CASE("check_email keeps a non-ASCII domain in NFC U-labels, lower case, and everything else "
          "as given") {
  CHECK(checked("hélène@Exemple-ÉTÉ.FR") == "hélène@exemple-été.fr");
  CHECK(checked("x@e\u0301te\u0301.fr") == "x@été.fr"); // decomposed: NFC
  CHECK(checked("x@été\u3002fr") == "x@été.fr");        // ideographic full stop (UTS #46)
  CHECK(checked("x@straße.de") == "x@straße.de");       // non-transitional: ß stays
  // ASCII, A-labels included, exactly as today: case kept, no conversion.
  CHECK(checked("User.Name@EXAMPLE.org") == "User.Name@EXAMPLE.org");
  CHECK(checked("a@xn--exemple-t-i4ab.fr") == "a@xn--exemple-t-i4ab.fr");
  CHECK(checked("a@ab--cd.fr") == "a@ab--cd.fr"); // valid before IDNA, still valid
  // The local part is the destination's: kept byte for byte, not normalised.
  CHECK(checked("he\u0301le\u0300ne@exemple.fr") == "he\u0301le\u0300ne@exemple.fr");
}

TEST_CASE("check_email says why an internationalised address is refused; ASCII refusals stay "
          "without detail") {
  CHECK(checked("x@☃.net") ==
        "! (domain not a valid IDNA2008 domain name: string contains a disallowed character)");
  CHECK(checked("x@-été.fr") ==
        "! (domain not a valid IDNA2008 domain name: string start/ends with forbidden hyphen)");
  CHECK(checked("x@ét_é.fr") == "! (domain its A-label form \"xn--t_-9iac.fr\" is not a host "
                                "name (labels of 1-63 letters, digits or hyphens, at most 253 "
                                "octets))");
  CHECK(checked("x@été.fr.").find("is not a host name") != std::string::npos);
  CHECK(checked("a\u200Bb@exemple.fr") ==
        "! (local part has U+200B, an invisible, space or control character)");
  CHECK(checked("h\u00A0l@exemple.fr") ==
        "! (local part has U+00A0, an invisible, space or control character)");
  CHECK(checked("h\u202El@exemple.fr").find("U+202E") != std::string::npos);
  CHECK(checked("a\xC2\x85@exemple.fr").find("U+0085") != std::string::npos); // C1 control
  CHECK(checked("a\xC3@exemple.fr") == "! (local part is not valid UTF-8)");
  CHECK(checked("a\xC0\xAF@exemple.fr") == "! (local part is not valid UTF-8)");     // overlong "/"
  CHECK(checked("a\xED\xA0\x80@exemple.fr") == "! (local part is not valid UTF-8)"); // surrogate
  CHECK(checked("é..a@exemple.fr") == "!"); // dot-atom rules as for ASCII
  CHECK(checked("a b@example.org") == "!");
  CHECK(checked("a@exa mple.org") == "!");
}

TEST_CASE("internationalised length limits are in octets: local part 64, address 254, and 254 "
          "again with the domain in A-labels") {
  std::string e32, e33;
  for (int i = 0; i < 32; ++i)
    e32 += "é"; // 64 octets
  e33 = e32 + "é";
  CHECK(valid_email(e32 + "@exemple.fr"));
  CHECK(checked(e33 + "@exemple.fr") == "! (local part longer than 64 octets in UTF-8)");
  // Four labels of 49 "a" and an "é": 51 octets each in UTF-8, 57 in A-labels.
  std::string label = std::string(49, 'a') + "é", domain;
  for (int i = 0; i < 4; ++i)
    domain += label + ".";
  domain += "fr";
  CHECK(domain.size() == 210);
  CHECK(idn::to_ascii(domain).size() == 234);
  CHECK(valid_email(std::string(19, 'x') + "@" + domain)); // 254 octets in A-labels
  CHECK(checked(std::string(20, 'x') + "@" + domain) ==
        "! (longer than 254 octets with the domain in A-labels)");
  CHECK(checked(std::string(45, 'x') + "@" + domain + ".xx") == "!"); // 259 in UTF-8
}

} // namespace test_unit_core_email_test
