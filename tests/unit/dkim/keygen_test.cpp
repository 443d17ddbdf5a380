// Key generation and the DNS record: the record published as printed makes the signatures of
// the generated key verify (dkimpy); `iaposte dkim keygen` end to end.
#include <doctest/doctest.h>

#include <filesystem>
#include <sys/stat.h>

#include "fixture.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_dkim_keygen_test {

using namespace iaposte;
using namespace iaposte::dkim::test;
using dkim::algorithm;
namespace fs = std::filesystem;

namespace {

// The TXT value a zone file line publishes: its character-strings joined (RFC 1035 §5.1).
std::string zone_value(const std::string& line) {
  std::string v;
  std::size_t pos = line.find(" IN TXT (");
  REQUIRE_MESSAGE(pos != std::string::npos, line);
  while ((pos = line.find('"', pos)) != std::string::npos) {
    const std::size_t end = line.find('"', pos + 1);
    REQUIRE(end != std::string::npos);
    const std::string s = line.substr(pos + 1, end - pos - 1);
    CHECK(s.size() <= 255);
    v += s;
    pos = end + 1;
  }
  return v;
}

std::string line_starting(const std::string& text, const std::string& prefix) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    if (text.compare(pos, prefix.size(), prefix) == 0) return text.substr(pos, eol - pos);
    pos = eol + 1;
  }
  FAIL("no line starting with \"" << prefix << "\" in:\n" << text);
  return "";
}

// Loads a generated PEM, signs a golden with it and verifies with `txt` as the only record.
std::vector<verdict> sign_and_verify(const std::string& pem, algorithm a, const std::string& txt) {
  temp_dir dir;
  write_file(dir / "k.pem", pem);
  const auto key = dkim::signing_key::load({"acme.example", "s1", a, (dir / "k.pem").string()});
  const std::string s = dkim::signer({key}).sign(golden("02-french-accents"), signed_at);
  return verifier().verify(s, {{"s1._domainkey.acme.example", txt}});
}

} // namespace

TEST_CASE("keygen rsa: a 2048-bit PKCS#8 key and a record with the SubjectPublicKeyInfo, in "
          "strings of at most 255 octets, that verifies its signatures") {
  const auto g = dkim::keygen(algorithm::rsa_sha256, "s1", "acme.example");
  CHECK(g.private_key_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0) == 0);
  CHECK(g.record.name == "s1._domainkey.acme.example");
  REQUIRE(g.record.value.rfind("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
                               0) == 0); // the DER prefix of a 2048-bit RSA SubjectPublicKeyInfo
  CHECK(g.record.value.size() == 18 + 392);
  const auto strings = g.record.strings();
  REQUIRE(strings.size() == 2);
  CHECK(strings[0].size() == 255);
  CHECK(strings[0] + strings[1] == g.record.value);
  CHECK(g.record.zone_line() ==
        "s1._domainkey.acme.example. IN TXT ( \"" + strings[0] + "\" \"" + strings[1] + "\" )");
  auto v =
      sign_and_verify(g.private_key_pem, algorithm::rsa_sha256, zone_value(g.record.zone_line()));
  CHECK_MESSAGE(all_ok(v), describe(v));
  // The loaded key gives the same record back.
  temp_dir dir;
  write_file(dir / "k.pem", g.private_key_pem);
  const auto key = dkim::signing_key::load(
      {"acme.example", "s1", algorithm::rsa_sha256, (dir / "k.pem").string()});
  CHECK(key.bits() == 2048);
  CHECK(key.public_record().value == g.record.value);
}

TEST_CASE("keygen ed25519: the record's p= is the raw 32-octet public key (RFC 8463 §4.2) and "
          "verifies its signatures") {
  const auto g = dkim::keygen(algorithm::ed25519_sha256, "s1", "acme.example");
  CHECK(g.private_key_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0) == 0);
  REQUIRE(g.record.value.rfind("v=DKIM1; k=ed25519; p=", 0) == 0);
  const std::string p = g.record.value.substr(22);
  CHECK(p.size() == 44); // base64 of 32 octets
  CHECK(p.back() == '=');
  CHECK(g.record.strings().size() == 1);
  auto v = sign_and_verify(g.private_key_pem, algorithm::ed25519_sha256, g.record.value);
  CHECK_MESSAGE(all_ok(v), describe(v));
  // Another key's record does not verify them.
  const auto other = dkim::keygen(algorithm::ed25519_sha256, "s1", "acme.example");
  v = sign_and_verify(g.private_key_pem, algorithm::ed25519_sha256, other.record.value);
  CHECK_MESSAGE(!v.at(0).ok, describe(v));
  CHECK(other.private_key_pem != g.private_key_pem);
}

TEST_CASE("keygen refuses a selector or domain that is not a DNS name") {
  CHECK_THROWS_WITH_AS(dkim::keygen(algorithm::ed25519_sha256, "s_1", "acme.example"),
                       "DKIM selector \"s_1\": is not a DNS name (letters, digits, '-' and '.' "
                       "only; IDNs as A-labels)",
                       dkim::error);
  CHECK_THROWS_WITH_AS(dkim::keygen(algorithm::rsa_sha256, "s1", ""),
                       "DKIM domain \"\": must be set", dkim::error);
}

TEST_CASE("iaposte dkim keygen --out: the key in a new 0600 file, the record on stdout; the "
          "record as printed verifies the key's signatures") {
  temp_dir dir;
  const fs::path out = dir / "acme-s1.pem";
  auto r = run({IAPOSTE_CLI_BIN, "dkim", "keygen", "--selector", "s1", "--domain", "acme.example",
                "--out", out.string()});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  struct stat st {};
  REQUIRE(::stat(out.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  const std::string pem = read_file(out);
  CHECK(pem.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
  CHECK(r.out.find("PRIVATE KEY") == std::string::npos);
  const std::string zone = line_starting(r.out, "s1._domainkey.acme.example. IN TXT (");
  const std::string value = line_starting(r.out, "; value: ").substr(9);
  CHECK(zone_value(zone) == value);
  CHECK(value.rfind("v=DKIM1; k=rsa; p=", 0) == 0);
  auto v = sign_and_verify(pem, algorithm::rsa_sha256, zone_value(zone));
  CHECK_MESSAGE(all_ok(v), describe(v));

  SUBCASE("an existing file is never overwritten") {
    auto again = run({IAPOSTE_CLI_BIN, "dkim", "keygen", "--selector", "s2", "--domain",
                      "acme.example", "--out", out.string()});
    CHECK(again.status == 1);
    CHECK(again.err == "iaposte dkim: " + out.string() +
                           ": File exists (a key is never overwritten: remove it first, or "
                           "choose another name)\n");
    CHECK(read_file(out) == pem);
  }
}

TEST_CASE("iaposte dkim keygen without --out: the private key on stdout, the record on stderr") {
  auto r = run({IAPOSTE_CLI_BIN, "dkim", "keygen", "--algorithm", "ed25519", "--selector", "e1",
                "--domain", "acme.example"});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.out.rfind("-----BEGIN PRIVATE KEY-----\n", 0) == 0);
  CHECK(r.out.find("_domainkey") == std::string::npos);
  const std::string value = line_starting(r.err, "; value: ").substr(9);
  CHECK(value.rfind("v=DKIM1; k=ed25519; p=", 0) == 0);
  temp_dir dir;
  write_file(dir / "k.pem", r.out);
  const auto key = dkim::signing_key::load(
      {"acme.example", "e1", algorithm::ed25519_sha256, (dir / "k.pem").string()});
  CHECK(key.public_record().value == value);
}

TEST_CASE("iaposte dkim: usage errors exit 2 with a message, --help exits 0") {
  auto r = run({IAPOSTE_CLI_BIN, "dkim", "keygen", "--domain", "acme.example"});
  CHECK(r.status == 2);
  CHECK(r.err.find("iaposte dkim: keygen needs --selector and --domain") == 0);
  r = run({IAPOSTE_CLI_BIN, "dkim", "keygen", "--selector", "s1", "--domain", "acme.example",
           "--algorithm", "dsa"});
  CHECK(r.status == 2);
  CHECK(r.err.find("iaposte dkim: DKIM algorithm \"dsa\": expected rsa-sha256 (rsa) or "
                   "ed25519-sha256 (ed25519)") == 0);
  r = run({IAPOSTE_CLI_BIN, "dkim", "keygen", "--selector", "s 1", "--domain", "acme.example"});
  CHECK(r.status == 2);
  CHECK(r.err.find("iaposte dkim: DKIM selector \"s 1\"") == 0);
  r = run({IAPOSTE_CLI_BIN, "dkim", "keygen", "--selector", "s1", "--domain", "acme.example",
           "--colour", "blue"});
  CHECK(r.status == 2);
  CHECK(r.err.find("iaposte dkim: unknown option --colour") == 0);
  r = run({IAPOSTE_CLI_BIN, "dkim", "keygen", "--selector"});
  CHECK(r.status == 2);
  CHECK(r.err.find("iaposte dkim: --selector needs a value") == 0);
  r = run({IAPOSTE_CLI_BIN, "dkim", "rotate"});
  CHECK(r.status == 2);
  r = run({IAPOSTE_CLI_BIN, "dkim"});
  CHECK(r.status == 2);
  r = run({IAPOSTE_CLI_BIN, "dkim", "--help"});
  CHECK(r.status == 0);
  CHECK(r.out.find("iaposte dkim keygen --selector S --domain D") != std::string::npos);
  r = run({IAPOSTE_CLI_BIN, "--help"});
  CHECK(r.out.find("  dkim ") != std::string::npos);
}

} // namespace test_unit_dkim_keygen_test
