// Specifies bearer-token parsing, matching and role names (no sockets).
#include <doctest/doctest.h>

#include "admin/auth.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_admin_auth_test {

using namespace iaposte::admin;

TEST_CASE("the bearer token is taken from the Authorization header, scheme case-insensitive") {
  CHECK(token_set::bearer("Bearer abc") == std::optional<std::string_view>("abc"));
  CHECK(token_set::bearer("bearer abc") == std::optional<std::string_view>("abc"));
  CHECK(token_set::bearer("BEARER  abc ") == std::optional<std::string_view>("abc"));
  CHECK_FALSE(token_set::bearer(""));
  CHECK_FALSE(token_set::bearer("Bearer"));
  CHECK_FALSE(token_set::bearer("Bearer "));
  CHECK_FALSE(token_set::bearer("Basic dXNlcjpwYXNz"));
  CHECK_FALSE(token_set::bearer("Bearerabc"));
}

TEST_CASE("a presented secret matches exactly one configured token, by full value") {
  token_set tokens(
      {{"prom", role::read, "", "secret-one"}, {"ops", role::admin, "", "secret-two"}});
  auto a = tokens.match("secret-one");
  REQUIRE(a);
  CHECK(a->name == "prom");
  CHECK(a->role == role::read);
  auto b = tokens.match("secret-two");
  REQUIRE(b);
  CHECK(b->name == "ops");
  CHECK(b->role == role::admin);
  CHECK_FALSE(tokens.match("secret-on"));
  CHECK_FALSE(tokens.match("secret-one "));
  CHECK_FALSE(tokens.match("secret-onex"));
  CHECK_FALSE(tokens.match(""));
  CHECK_FALSE(token_set({}).match("anything"));
}

TEST_CASE("roles: names parse both ways; a token cannot have role none") {
  CHECK(parse_role("read") == role::read);
  CHECK(parse_role("admin") == role::admin);
  CHECK_FALSE(parse_role("root"));
  CHECK_FALSE(parse_role("none"));
  CHECK(to_string(role::admin) == "admin");
  CHECK(role::admin > role::read);
  CHECK_THROWS_AS(token_set({{"x", role::none, "", "s"}}), std::runtime_error);
  CHECK_THROWS_AS(token_set({{"x", role::read, "", ""}}), std::runtime_error); // no secret
}

} // namespace test_unit_admin_auth_test
