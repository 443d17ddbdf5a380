// Loading signing keys: what is accepted, and a readable error (never the key) for the rest.
#include <doctest/doctest.h>

#include "fixture.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_dkim_key_test {

using namespace iaposte;
using namespace iaposte::dkim::test;
using dkim::algorithm;

namespace {

// The error load() gives for tests/data/dkim/<file> (copied with `mode`), or "(loaded)".
std::string load_error(const std::string& contents, algorithm a, unsigned mode = 0600,
                       const std::string& domain = "acme.example",
                       const std::string& selector = "s1") {
  temp_dir dir;
  write_file(dir / "key.pem", contents, mode);
  try {
    dkim::signing_key::load({domain, selector, a, (dir / "key.pem").string()});
  } catch (const dkim::error& e) {
    std::string m = e.what();
    // The temporary directory's name varies: keep the rest exact.
    const std::string path = (dir / "key.pem").string();
    if (auto p = m.find(path); p != std::string::npos) m.replace(p, path.size(), "KEY");
    return m;
  }
  return "(loaded)";
}

std::string vector(const std::string& file) {
  return read_file(data_dir / "dkim" / file);
}

} // namespace

TEST_CASE("a PKCS#8 RSA 2048 key and an Ed25519 key load, without warning") {
  const auto rsa = rsa_key(), ed = ed_key();
  CHECK(rsa.algo() == algorithm::rsa_sha256);
  CHECK(rsa.bits() == 2048);
  CHECK(rsa.warning().empty());
  CHECK(rsa.domain() == "acme.example");
  CHECK(rsa.selector() == "rsa2026");
  CHECK(ed.algo() == algorithm::ed25519_sha256);
  CHECK(ed.warning().empty());
}

TEST_CASE("a PKCS#1 \"RSA PRIVATE KEY\" (opendkim-genkey's format) is the same key and signs "
          "the same bytes") {
  const auto pkcs8 = test_key("rsa-2048.pem", algorithm::rsa_sha256, "acme.example", "p8");
  const auto pkcs1 = test_key("rsa-2048-pkcs1.pem", algorithm::rsa_sha256, "acme.example", "p8");
  CHECK(pkcs1.public_record().value == pkcs8.public_record().value);
  const std::string msg = golden("01-ascii-text");
  CHECK(dkim::signer({pkcs1}).sign(msg, signed_at) == dkim::signer({pkcs8}).sign(msg, signed_at));
}

TEST_CASE("an RSA key of 1024 bits is accepted with a warning and its signatures verify") {
  const auto k = test_key("rsa-1024.pem", algorithm::rsa_sha256, "acme.example", "old");
  CHECK(k.bits() == 1024);
  CHECK(k.warning() ==
        "RSA key of 1024 bits: some receivers distrust keys under 2048 bits (RFC 8301 §3.2)");
  auto v = verify(dkim::signer({k}).sign(golden("02-french-accents"), signed_at), {k});
  CHECK_MESSAGE(all_ok(v), describe(v));
}

TEST_CASE("a key file others can read is accepted with a warning") {
  temp_dir dir;
  write_file(dir / "k.pem", vector("ed25519.pem"), 0644);
  const auto k = dkim::signing_key::load(
      {"acme.example", "s1", algorithm::ed25519_sha256, (dir / "k.pem").string()});
  CHECK(k.warning() ==
        "the key file is readable by other users (mode 0644; 0600 or 0400 expected)");
}

TEST_CASE("key errors name the domain, selector and file, say what is wrong, and never quote "
          "the key") {
  const std::string where = "DKIM key d=acme.example s=s1 (KEY): ";
  SUBCASE("missing file") {
    temp_dir dir;
    const std::string path = (dir / "missing.pem").string();
    try {
      dkim::signing_key::load({"acme.example", "s1", algorithm::rsa_sha256, path});
      FAIL("loaded");
    } catch (const dkim::error& e) {
      CHECK(std::string(e.what()) == "DKIM key d=acme.example s=s1 (" + path +
                                         "): cannot read the key file: No such file or directory");
    }
  }
  SUBCASE("a directory") {
    temp_dir dir;
    try {
      dkim::signing_key::load({"acme.example", "s1", algorithm::rsa_sha256, (dir / "").string()});
      FAIL("loaded");
    } catch (const dkim::error& e) {
      CHECK(std::string(e.what()).find("cannot read the key file: not a regular file") !=
            std::string::npos);
    }
  }
  SUBCASE("no path, a relative path") {
    CHECK_THROWS_WITH_AS(dkim::signing_key::load({"acme.example", "s1", algorithm::rsa_sha256, ""}),
                         "DKIM key d=acme.example s=s1 (in memory): key_file is not set",
                         dkim::error);
    CHECK_THROWS_WITH_AS(
        dkim::signing_key::load({"acme.example", "s1", algorithm::rsa_sha256, "dkim.pem"}),
        "DKIM key d=acme.example s=s1 (dkim.pem): key_file must be an absolute path (a relative "
        "name is resolved against $CREDENTIALS_DIRECTORY by the configuration)",
        dkim::error);
  }
  SUBCASE("empty file") {
    CHECK(load_error("", algorithm::rsa_sha256) == where + "the key file is empty");
    CHECK(load_error("\n\n", algorithm::rsa_sha256) == where + "the key file is empty");
  }
  SUBCASE("garbage") {
    const std::string secret = "hunter2-SECRET-MATERIAL-0123456789";
    const std::string m = load_error(secret + "\n", algorithm::rsa_sha256);
    CHECK(m == where + "not a PEM private key (expected -----BEGIN PRIVATE KEY-----)");
    CHECK(m.find("hunter2") == std::string::npos);
  }
  SUBCASE("a PEM frame around damaged base64") {
    // A real key with its middle replaced: OpenSSL cannot decode it, and none of it is shown.
    std::string pem = vector("rsa-2048.pem");
    const std::string body_line = pem.substr(pem.find('\n') + 1, 64);
    pem.replace(pem.find('\n') + 200, 64, std::string(64, '!'));
    const std::string m = load_error(pem, algorithm::rsa_sha256);
    CHECK_MESSAGE(m.rfind(where + "not a readable PEM private key (", 0) == 0, m);
    CHECK(m.find(body_line) == std::string::npos);
    CHECK(m.find("!!!!") == std::string::npos);
  }
  SUBCASE("an encrypted key") {
    CHECK(load_error(vector("rsa-2048-encrypted.pem"), algorithm::rsa_sha256) ==
          where + "the private key is encrypted: give it unencrypted and protect the file "
                  "instead (mode 0600, or systemd's LoadCredential=)");
  }
  SUBCASE("a public key") {
    CHECK(load_error(vector("rsa-2048-public.pem"), algorithm::rsa_sha256) ==
          where + "holds a public key; the private key is needed to sign");
  }
  SUBCASE("a certificate") {
    CHECK(load_error("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                     algorithm::rsa_sha256) ==
          where + "holds a PEM \"CERTIFICATE\", not a private key");
  }
  SUBCASE("a key of the other algorithm") {
    CHECK(load_error(vector("ed25519.pem"), algorithm::rsa_sha256) ==
          where + "holds an Ed25519 key but the algorithm is rsa-sha256");
    CHECK(load_error(vector("rsa-2048.pem"), algorithm::ed25519_sha256) ==
          where + "holds an RSA key but the algorithm is ed25519-sha256");
  }
  SUBCASE("an ECDSA key") {
    CHECK(
        load_error(vector("ec-p256.pem"), algorithm::rsa_sha256) ==
        where +
            "holds a key of type EC; DKIM signs with RSA (rsa-sha256) or Ed25519 (ed25519-sha256)");
  }
  SUBCASE("an RSA key under 1024 bits") {
    CHECK(load_error(vector("rsa-512.pem"), algorithm::rsa_sha256) ==
          where + "RSA key of 512 bits: DKIM needs at least 1024 (RFC 8301 §3.2); generate a "
                  "2048-bit key");
  }
  SUBCASE("a domain or selector that is not a DNS name") {
    const std::string pem = vector("ed25519.pem");
    CHECK(load_error(pem, algorithm::ed25519_sha256, 0600, "acme.example;", "s1") ==
          "DKIM domain \"acme.example;\": is not a DNS name (letters, digits, '-' and '.' only; "
          "IDNs as A-labels)");
    CHECK(load_error(pem, algorithm::ed25519_sha256, 0600, "acme.example", "s 1") ==
          "DKIM selector \"s 1\": is not a DNS name (letters, digits, '-' and '.' only; IDNs as "
          "A-labels)");
    CHECK(load_error(pem, algorithm::ed25519_sha256, 0600, "", "s1") ==
          "DKIM domain \"\": must be set");
    CHECK(load_error(pem, algorithm::ed25519_sha256, 0600, "acme..example", "s1") ==
          "DKIM domain \"acme..example\": has an empty label");
    CHECK(load_error(pem, algorithm::ed25519_sha256, 0600, "acme.example", "-s1") ==
          "DKIM selector \"-s1\": has a label starting or ending in '-'");
    CHECK(load_error(pem, algorithm::ed25519_sha256, 0600, "acme.example", std::string(64, 'a')) ==
          "DKIM selector \"" + std::string(64, 'a') + "\": has a label longer than 63 octets");
  }
}

TEST_CASE("from_pem: the same checks on a key held in memory") {
  const dkim::key_config cfg{"acme.example", "s1", algorithm::ed25519_sha256, ""};
  const auto k = dkim::signing_key::from_pem(cfg, vector("ed25519.pem"));
  CHECK(k.public_record().value == ed_key().public_record().value);
  CHECK_THROWS_WITH_AS(dkim::signing_key::from_pem(cfg, vector("rsa-2048.pem")),
                       "DKIM key d=acme.example s=s1 (in memory): holds an RSA key but the "
                       "algorithm is ed25519-sha256",
                       dkim::error);
}

TEST_CASE("algorithm names: the a= values and the short CLI names") {
  CHECK(dkim::parse_algorithm("rsa") == algorithm::rsa_sha256);
  CHECK(dkim::parse_algorithm("rsa-sha256") == algorithm::rsa_sha256);
  CHECK(dkim::parse_algorithm("ed25519") == algorithm::ed25519_sha256);
  CHECK(dkim::parse_algorithm("ed25519-sha256") == algorithm::ed25519_sha256);
  CHECK(dkim::to_string(algorithm::rsa_sha256) == "rsa-sha256");
  CHECK(dkim::to_string(algorithm::ed25519_sha256) == "ed25519-sha256");
  CHECK_THROWS_WITH_AS(dkim::parse_algorithm("rsa-sha1"),
                       "DKIM algorithm \"rsa-sha1\": expected rsa-sha256 (rsa) or ed25519-sha256 "
                       "(ed25519)",
                       dkim::error);
}

} // namespace test_unit_dkim_key_test
