// Specifies unsubscribe tokens: they round-trip, match vectors computed by Python, cannot be
// altered, forged or spliced, and verify across a secret rotation; the secrets' files.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "unsubscribe/unsubscribe.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_unsubscribe_token_test {

using namespace iaposte;
using unsubscribe::secret_set;
using unsubscribe::signer;
using unsubscribe::subscription;
using unsubscribe::verifier;

namespace {

const std::string secret_a = "first-secret-for-the-tests-0123456789abcdef";
const std::string secret_b = "second-secret-for-the-tests-9876543210fedcba";

nlohmann::json vectors() {
  std::ifstream in(std::string(IAPOSTE_TEST_DATA) + "/unsubscribe/vectors.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

// An independent base64url (RFC 4648 §5), to take tokens apart in the tests.
const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string to_b64(const std::string& in) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 63];
  return out;
}

std::string from_b64(const std::string& in) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    acc = (acc << 6) | unsigned(alphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return out;
}

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "iaposte-unsub-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path / name, std::ios::binary) << content;
    return (path / name).string();
  }
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

} // namespace

TEST_CASE("a token verifies back to exactly the tenant, address and list it was made for") {
  const secret_set secrets({secret_a});
  const signer s(secrets);
  const verifier v(secrets);
  for (const subscription& sub :
       {subscription{"acme", "helene@exemple.fr", "newsletter"},
        subscription{"acme", "helene@exemple.fr", ""},
        subscription{"globex", "Jean.Dupont+promo@Exemple.FR", "offres-été"},
        subscription{std::string(255, 't'), std::string(64, 'l') + "@" + std::string(190, 'd'),
                     std::string(255, 'x')}}) {
    const auto token = s.encode(sub);
    CAPTURE(token);
    CHECK(token.find_first_not_of(alphabet) == std::string::npos); // URL-safe as is
    CHECK(token.find('=') == std::string::npos);
    const auto got = v.verify(token);
    REQUIRE_MESSAGE(got, got.error);
    CHECK(got.error.empty());
    CHECK(*got.sub == sub);
  }
}

TEST_CASE("tokens match the vectors computed by Python's hmac and base64") {
  const auto doc = vectors();
  const secret_set secrets({doc["secret"].get<std::string>()});
  for (const auto& t : doc["vectors"]) {
    const subscription sub{t["tenant"], t["address"], t["list"]};
    CHECK(signer(secrets).encode(sub) == t["token"].get<std::string>());
    const auto got = verifier(secrets).verify(t["token"].get<std::string>());
    REQUIRE(got);
    CHECK(*got.sub == sub);
  }
}

TEST_CASE("a typical token is short enough for a URL (under 80 characters)") {
  const secret_set secrets({secret_a});
  CHECK(signer(secrets).encode({"acme", "helene.dubois@exemple.fr", "newsletter"}).size() < 80);
}

TEST_CASE("every single-character change of a token is refused, whatever the character") {
  const auto doc = vectors();
  const secret_set secrets({doc["secret"].get<std::string>()});
  const verifier v(secrets);
  // Each vector's length modulo 3 differs: the last character's unused bits are covered too.
  for (const auto& t : doc["vectors"]) {
    const std::string token = t["token"];
    REQUIRE(v.verify(token));
    const std::string others = alphabet + "=+/.%~ \t\r\n\x7f\x80\xff" + std::string(1, '\0');
    int tried = 0;
    for (std::size_t i = 0; i < token.size(); ++i)
      for (char c : others) {
        if (c == token[i]) continue;
        std::string bad = token;
        bad[i] = c;
        const auto got = v.verify(bad);
        ++tried;
        if (got)
          FAIL("position " << i << " changed to byte " << int(static_cast<unsigned char>(c))
                           << " still verifies");
        CHECK_FALSE(got.error.empty());
      }
    CHECK(tried > 60 * int(token.size()));
  }
}

TEST_CASE("a token cut short or extended is refused") {
  const secret_set secrets({secret_a});
  const auto token = signer(secrets).encode({"acme", "helene@exemple.fr", "newsletter"});
  const verifier v(secrets);
  for (std::size_t n = 0; n < token.size(); ++n)
    CHECK_FALSE(v.verify(token.substr(0, n)));
  for (char c : alphabet)
    CHECK_FALSE(v.verify(token + c));
  CHECK_FALSE(v.verify(token + token));
}

TEST_CASE("parts spliced between two valid tokens never verify: A's MAC does not carry B") {
  const secret_set secrets({secret_a});
  const signer s(secrets);
  const verifier v(secrets);
  // Same lengths everywhere, so that the splice keeps the layout valid.
  const auto a = from_b64(s.encode({"acme", "anne@exemple.fr", "news"}));
  const auto b = from_b64(s.encode({"acme", "bert@exemple.fr", "news"}));
  const auto c = from_b64(s.encode({"acmf", "anne@exemple.fr", "news"}));
  const auto d = from_b64(s.encode({"acme", "anne@exemple.fr", "newt"}));
  REQUIRE(a.size() == b.size());
  const std::size_t mac_at = a.size() - unsubscribe::mac_bytes;
  // B's fields with A's MAC, and the other way round.
  CHECK_FALSE(v.verify(to_b64(b.substr(0, mac_at) + a.substr(mac_at))));
  CHECK_FALSE(v.verify(to_b64(a.substr(0, mac_at) + b.substr(mac_at))));
  // A's MAC with another tenant, another list.
  CHECK_FALSE(v.verify(to_b64(c.substr(0, mac_at) + a.substr(mac_at))));
  CHECK_FALSE(v.verify(to_b64(d.substr(0, mac_at) + a.substr(mac_at))));
  // The address field of B put into A (layout: version, 4 "acme", 15 address, ...).
  std::string spliced = a;
  spliced.replace(7, 15, b.substr(7, 15));
  REQUIRE(spliced.substr(7, 15) == "bert@exemple.fr");
  CHECK_FALSE(v.verify(to_b64(spliced)));
  // The same bytes moved between fields: tenant "acmea", address "nne@exemple.fr".
  const std::string shifted = std::string("\x01\x05"
                                          "acmea\x0e"
                                          "nne@exemple.fr") +
                              a.substr(22);
  REQUIRE(shifted.size() == a.size());
  CHECK_FALSE(v.verify(to_b64(shifted)));
  // The pieces themselves are fine.
  CHECK(v.verify(to_b64(a)));
  CHECK(v.verify(to_b64(b)));
}

TEST_CASE("a token signed with another secret is refused, with an error that names no secret") {
  const auto token = signer(secret_set({secret_b})).encode({"acme", "helene@exemple.fr", ""});
  const auto got = verifier(secret_set({secret_a})).verify(token);
  CHECK_FALSE(got);
  CHECK(got.error.find("signature does not match") != std::string::npos);
  CHECK(got.error.find(secret_a) == std::string::npos);
  CHECK(got.error.find(secret_b) == std::string::npos);
}

TEST_CASE("malformed tokens get readable errors") {
  const verifier v(secret_set({secret_a}));
  CHECK(v.verify("").error == "not a token: empty");
  CHECK(v.verify("abc!def").error == "not a token: character outside base64url");
  CHECK(v.verify("AQRhY21lA=").error == "not a token: character outside base64url");
  CHECK(v.verify("AQRhY").error == "not a token: bad length");
  CHECK(v.verify("AQRhY21l").error == "not a token: too short");
  CHECK(v.verify(std::string(2000, 'A')).error == "not a token: too long");
  // Version 2 is not one we make.
  const std::string v2 = to_b64(std::string("\x02\x04"
                                            "acme\x01"
                                            "a\x00",
                                            9) +
                                std::string(16, 'm'));
  CHECK(v.verify(v2).error == "unknown token version 2");
}

TEST_CASE("rotation: the first secret signs, every secret verifies") {
  const secret_set old_only({secret_a});
  const secret_set rotated({secret_b, secret_a}); // the new one first
  const subscription sub{"acme", "helene@exemple.fr", "newsletter"};
  const auto old_token = signer(old_only).encode(sub);
  const auto new_token = signer(rotated).encode(sub);
  CHECK(new_token != old_token);
  CHECK(new_token == signer(secret_set({secret_b})).encode(sub));
  // During the rotation both verify.
  CHECK(verifier(rotated).verify(old_token));
  CHECK(verifier(rotated).verify(new_token));
  // A daemon not rotated yet refuses the new tokens; once the old secret is retired, the old
  // links die.
  CHECK_FALSE(verifier(old_only).verify(new_token));
  CHECK_FALSE(verifier(secret_set({secret_b})).verify(old_token));
}

TEST_CASE("encode refuses what cannot be a token: empty tenant or address, long or control "
          "characters") {
  const signer s(secret_set({secret_a}));
  CHECK(message_of([&] { s.encode({"", "a@b.fr", ""}); }) == "unsubscribe token: empty tenant");
  CHECK(message_of([&] { s.encode({"acme", "", ""}); }) == "unsubscribe token: empty address");
  CHECK(message_of([&] {
          s.encode({"acme", "a@b.fr", std::string(256, 'x')});
        }) == "unsubscribe token: list longer than 255 bytes");
  CHECK(message_of([&] {
          s.encode({"acme", "a@b.fr\r\nBcc: x@y", ""});
        }) == "unsubscribe token: control character in address");
  CHECK(message_of([&] {
          s.encode({"acme", std::string("a\0@b.fr", 7), ""});
        }) == "unsubscribe token: control character in address");
}

TEST_CASE("secrets: none, too short or repeated are refused without showing them") {
  CHECK(message_of([] { secret_set({}); }) == "unsubscribe: no secret given");
  const auto short_error = message_of([] { secret_set({secret_a, "short-secret"}); });
  CHECK(short_error == "unsubscribe: secret 1 has 12 bytes, at least 32 are needed");
  CHECK(message_of([] {
          secret_set({secret_a, secret_b, secret_a});
        }) == "unsubscribe: secret 2 repeats secret 0");
  CHECK_NOTHROW(secret_set({std::string(32, 's')}));
  CHECK_THROWS_AS(secret_set({std::string(31, 's')}), std::invalid_argument);
}

TEST_CASE("secret files: read whole, a trailing newline ignored, relative names in "
          "$CREDENTIALS_DIRECTORY") {
  temp_dir dir;
  const auto absolute = dir.write("new.key", secret_b + "\n");
  dir.write("old.key", secret_a + "\r\n");
  std::map<std::string, std::string> env{{"CREDENTIALS_DIRECTORY", dir.path.string()}};
  auto lookup = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  const auto secrets = unsubscribe::load_secrets({absolute, "old.key"}, lookup);
  REQUIRE(secrets.keys().size() == 2);
  CHECK(secrets.keys()[0] == secret_b);
  CHECK(secrets.keys()[1] == secret_a);
  // Same tokens as from the strings themselves.
  const subscription sub{"acme", "helene@exemple.fr", ""};
  CHECK(signer(secrets).encode(sub) == signer(secret_set({secret_b})).encode(sub));
}

TEST_CASE("secret files: missing, too short or repeated name the key and file, never the "
          "content") {
  temp_dir dir;
  const auto good = dir.write("good.key", secret_a);
  const auto tiny = dir.write("tiny.key", "tiny-secret-value\n");
  const auto again = dir.write("again.key", secret_a + "\n");
  auto no_env = [](const char*) -> const char* { return nullptr; };

  const auto missing = message_of([&] {
    unsubscribe::load_secrets({good, (dir.path / "absent.key").string()}, no_env);
  });
  CHECK(missing ==
        "unsubscribe.secret_files[1]: cannot read " + (dir.path / "absent.key").string());

  const auto too_short = message_of([&] { unsubscribe::load_secrets({tiny}, no_env); });
  CHECK(too_short == "unsubscribe.secret_files[0]: " + tiny +
                         " holds 17 bytes, at least 32 are needed (e.g. openssl rand -base64 48)");
  CHECK(too_short.find("tiny-secret-value") == std::string::npos);

  const auto repeated = message_of([&] { unsubscribe::load_secrets({good, again}, no_env); });
  CHECK(repeated == "unsubscribe.secret_files[1]: " + again +
                        " holds the same secret as unsubscribe.secret_files[0]");
  CHECK(repeated.find(secret_a) == std::string::npos);

  CHECK(message_of([&] { unsubscribe::load_secrets({}, no_env); }) ==
        "unsubscribe.secret_files: no file given");
  // Relative without $CREDENTIALS_DIRECTORY: relative to the working directory, not found.
  CHECK(message_of([&] { unsubscribe::load_secrets({"no-such-unsubscribe.key"}, no_env); }) ==
        "unsubscribe.secret_files[0]: cannot read no-such-unsubscribe.key");
}

} // namespace test_unit_unsubscribe_token_test
