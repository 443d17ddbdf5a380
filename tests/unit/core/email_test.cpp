// Specification of valid_email and header_safe.
#include <doctest/doctest.h>

#include <string>

#include "core/request.hpp"

using iaposte::core::header_safe;
using iaposte::core::valid_email;

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
                        "é@example.org",
                        "a@exämple.org",
                        "a\r\n@example.org",
                        "a@example.org\n",
                        "a\t@example.org"})
    CHECK_MESSAGE(!valid_email(e), e);
  CHECK_FALSE(valid_email(std::string("a\0b@example.org", 15)));
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
