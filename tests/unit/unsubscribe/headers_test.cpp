// Specifies the List-Unsubscribe values (RFC 2369, RFC 8058), the configuration's checks and
// the masked address.
#include <doctest/doctest.h>

#include <fstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "unsubscribe/unsubscribe.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_unsubscribe_headers_test {

using namespace iaposte;
using unsubscribe::config;
using unsubscribe::secret_set;
using unsubscribe::signer;

namespace {

nlohmann::json vectors() {
  std::ifstream in(std::string(IAPOSTE_TEST_DATA) + "/unsubscribe/vectors.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

config good_config() {
  config c;
  c.secret_files = {"unsubscribe.key"};
  c.base_url = "https://mail.example.org/unsubscribe/";
  c.mailto = "unsubscribe@example.org";
  return c;
}

// validate()'s message, or "" when it passes.
std::string problem(const config& c) {
  try {
    unsubscribe::validate(c);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return {};
}

} // namespace

TEST_CASE("header values are exactly those of the vectors: angle brackets, https first, the "
          "mailto's subject percent-encoded") {
  const auto doc = vectors();
  config c = good_config();
  c.base_url = doc["base_url"];
  c.mailto = doc["mailto"];
  const signer s(secret_set({doc["secret"].get<std::string>()}));
  for (const auto& t : doc["vectors"]) {
    const auto h = unsubscribe::headers_for(c, s, {t["tenant"], t["address"], t["list"]});
    CHECK(h.list_unsubscribe == t["list_unsubscribe"].get<std::string>());
    CHECK(h.list_unsubscribe_post == t["list_unsubscribe_post"].get<std::string>());
    CHECK(h.url == "https://mail.example.org/unsubscribe/" + t["token"].get<std::string>());
  }
}

TEST_CASE("the header values are one line of printable ASCII, whatever the address holds") {
  const signer s(secret_set({std::string(40, 'k')}));
  const auto h = unsubscribe::headers_for(good_config(), s,
                                          {"acme", "hélène.dubois@exemple.fr", "offres-été"});
  for (char c : h.list_unsubscribe) {
    const auto u = static_cast<unsigned char>(c);
    CHECK((u >= 0x20 && u < 0x7f));
  }
  // Two URLs, so exactly one ", " between '>' and '<' and no other comma (RFC 2369 §2).
  CHECK(h.list_unsubscribe.find(',') == h.list_unsubscribe.find(">, <") + 1);
  CHECK(h.list_unsubscribe.find(',', h.list_unsubscribe.find(',') + 1) == std::string::npos);
}

TEST_CASE("a base URL without a final slash gets one before the token") {
  const signer s(secret_set({std::string(40, 'k')}));
  config c = good_config();
  c.base_url = "https://mail.example.org/u";
  const auto token = s.encode({"acme", "a@b.fr", ""});
  const auto h = unsubscribe::headers_for(c, s, {"acme", "a@b.fr", ""});
  CHECK(h.url == "https://mail.example.org/u/" + token);
  CHECK(h.list_unsubscribe.starts_with("<https://mail.example.org/u/" + token + ">, <mailto:"));
  CHECK(unsubscribe::normal_base_url("https://x.example/") == "https://x.example/");
}

TEST_CASE("the mailto address is percent-encoded where RFC 6068 and RFC 2369 need it") {
  const signer s(secret_set({std::string(40, 'k')}));
  const auto token = s.encode({"acme", "a@b.fr", ""});
  config c = good_config();
  c.mailto = "unsub+news@example.org";
  CHECK(unsubscribe::headers_for(c, s, {"acme", "a@b.fr", ""})
            .list_unsubscribe.ends_with("<mailto:unsub+news@example.org?subject=unsubscribe%20" +
                                        token + ">"));
  c.mailto = "list/out%x&y=z#1@example.org";
  REQUIRE(problem(c) == "");
  CHECK(unsubscribe::headers_for(c, s, {"acme", "a@b.fr", ""})
            .list_unsubscribe.ends_with(
                "<mailto:list%2Fout%25x%26y%3Dz%231@example.org?subject=unsubscribe%20" + token +
                ">"));
}

TEST_CASE("validate accepts a complete configuration") {
  CHECK(problem(good_config()) == "");
  config c = good_config();
  c.base_url = "HTTPS://mail.example.org:8443/a/b%20c;v=1/";
  c.path_prefix = "/mail/unsubscribe";
  CHECK(problem(c) == "");
  c.base_url = "https://[2001:db8::1]/unsubscribe";
  CHECK(problem(c) == "");
}

TEST_CASE("validate names the key and the problem") {
  config c = good_config();
  c.secret_files.clear();
  CHECK(problem(c) == "unsubscribe.secret_files: at least one file is needed");
  c = good_config();
  c.secret_files = {"a.key", ""};
  CHECK(problem(c) == "unsubscribe.secret_files[1]: empty file name");

  c = good_config();
  c.base_url = "";
  CHECK(problem(c) == "unsubscribe.base_url: missing (e.g. https://mail.example.org/unsubscribe/)");
  c.base_url = "http://mail.example.org/unsubscribe/";
  CHECK(problem(c) == "unsubscribe.base_url: \"http://mail.example.org/unsubscribe/\": expected "
                      "an https:// URL (RFC 8058 §3.1 requires HTTPS)");
  c.allow_http = true;
  CHECK(problem(c) == "");
  c.allow_http = false;
  c.base_url = "mail.example.org/unsubscribe";
  CHECK(problem(c) == "unsubscribe.base_url: \"mail.example.org/unsubscribe\": expected an "
                      "absolute https:// URL");
  c.base_url = "https:///unsubscribe";
  CHECK(problem(c).ends_with(": no host"));
  c.base_url = "https://user:pw@mail.example.org/u";
  CHECK(problem(c).ends_with(": no user information allowed in the URL"));
  c.base_url = "https://mail.example.org/u?list=1";
  CHECK(problem(c).ends_with(": no query or fragment allowed: the token ends the path"));
  c.base_url = "https://mail.example.org/u#x";
  CHECK(problem(c).ends_with(": no query or fragment allowed: the token ends the path"));
  for (const char* bad : {"https://mail.example.org/a,b", "https://mail.example.org/a b",
                          "https://mail.example.org/a>b", "https://mail.example.org/dé"}) {
    config x = good_config();
    x.base_url = bad;
    CHECK(problem(x).ends_with(
        ": unexpected character in the path (space, ',', '<', '>', non-ASCII, ...)"));
  }
  c = good_config();
  c.base_url = "https://mail.example.org/a%2";
  CHECK(problem(c).ends_with(": a '%' not followed by two hex digits"));
  c.base_url = "https://mail.exa_mple.org/";
  CHECK(problem(c).ends_with(": unexpected character in the host"));

  c = good_config();
  c.mailto = "";
  CHECK(problem(c) == "unsubscribe.mailto: missing (e.g. unsubscribe@example.org)");
  c.mailto = "mailto:unsubscribe@example.org";
  CHECK(problem(c) == "unsubscribe.mailto: give the address alone, without \"mailto:\"");
  c.mailto = "Unsubscribe <unsubscribe@example.org>";
  CHECK(problem(c) == "unsubscribe.mailto: \"Unsubscribe <unsubscribe@example.org>\" is not an "
                      "email address (local@domain, ASCII)");

  c = good_config();
  for (const auto& [prefix, why] : std::vector<std::pair<std::string, std::string>>{
           {"unsubscribe", "must start with '/'"},
           {"/", "must name a path without a final '/'"},
           {"/unsubscribe/", "must name a path without a final '/'"},
           {"/a//b", "an empty, '.' or '..' segment"},
           {"/a/../b", "an empty, '.' or '..' segment"},
           {"/a b", "segments of [A-Za-z0-9._~-] only"},
           {"/a?b", "segments of [A-Za-z0-9._~-] only"}}) {
    c.path_prefix = prefix;
    CHECK(problem(c) == "unsubscribe.path_prefix: \"" + prefix + "\": " + why);
  }
  c = good_config();
  c.store_timeout = std::chrono::milliseconds{0};
  CHECK(problem(c) == "unsubscribe.store_timeout: must be positive");
  c = good_config();
  c.retry_after = std::chrono::seconds{0};
  CHECK(problem(c) == "unsubscribe.retry_after: must be positive");
}

TEST_CASE("the masked address keeps the first character of the local part and the domain") {
  CHECK(unsubscribe::mask_address("helene@exemple.fr") == "h\u2022\u2022\u2022@exemple.fr");
  CHECK(unsubscribe::mask_address("h@exemple.fr") == "h\u2022\u2022\u2022@exemple.fr");
  CHECK(unsubscribe::mask_address("élise@exemple.fr") == "é\u2022\u2022\u2022@exemple.fr");
  CHECK(unsubscribe::mask_address("\"a@b\"@exemple.fr") == "\"\u2022\u2022\u2022@exemple.fr");
  CHECK(unsubscribe::mask_address("no-at-sign") == "n\u2022\u2022\u2022");
}

} // namespace test_unit_unsubscribe_headers_test
