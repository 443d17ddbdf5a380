// A second, independent verifier: Debian's libopendkim 2.11 (C), with the keys read from a file
// instead of DNS (its DKIM_QUERY_FILE method, meant for tests). dkimpy and libopendkim share no
// code with each other or with lib/dkim.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <ctime>

// dkim.h is C: its prototypes use _Bool, which C++ spells bool.
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool

#include "fixture.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_dkim_opendkim_test {

using namespace iaposte;
using namespace iaposte::dkim::test;
namespace fs = std::filesystem;

namespace {

// libopendkim's verdict on each signature of `message`, DNS replaced by `records`.
std::vector<verdict> opendkim_verify(const std::string& message,
                                     const std::map<std::string, std::string>& records) {
  temp_dir dir;
  std::string keys;
  for (const auto& [name, value] : records)
    keys += name + " " + value + "\n";
  write_file(dir / "keys", keys);
  const std::string keyfile = (dir / "keys").string();

  DKIM_LIB* lib = dkim_init(nullptr, nullptr);
  REQUIRE(lib != nullptr);
  int method = DKIM_QUERY_FILE;
  dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD, &method, sizeof method);
  dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYINFO, const_cast<char*>(keyfile.c_str()),
               keyfile.size());
  DKIM_STAT st = DKIM_STAT_OK;
  DKIM* d = dkim_verify(lib, reinterpret_cast<const unsigned char*>("test"), nullptr, &st);
  REQUIRE(d != nullptr);
  std::string copy = message; // dkim_chunk takes a non-const buffer
  dkim_chunk(d, reinterpret_cast<unsigned char*>(copy.data()), copy.size());
  dkim_chunk(d, nullptr, 0);
  dkim_eom(d, nullptr);
  DKIM_SIGINFO** sigs = nullptr;
  int n = 0;
  std::vector<verdict> out;
  if (dkim_getsiglist(d, &sigs, &n) == DKIM_STAT_OK) {
    for (int i = 0; i < n; ++i) {
      dkim_sig_process(d, sigs[i]);
      verdict v;
      v.ok = DKIM_SIG_CHECK(sigs[i]);
      v.d = reinterpret_cast<const char*>(dkim_sig_getdomain(sigs[i]));
      v.s = reinterpret_cast<const char*>(dkim_sig_getselector(sigs[i]));
      dkim_alg_t alg = 0;
      dkim_sig_getsignalg(sigs[i], &alg);
      v.a = alg == DKIM_SIGN_ED25519SHA256 ? "ed25519-sha256"
            : alg == DKIM_SIGN_RSASHA256   ? "rsa-sha256"
                                           : "other";
      if (!v.ok) {
        v.why = dkim_sig_getbh(sigs[i]) != DKIM_SIGBH_MATCH
                    ? "body hash mismatch"
                    : dkim_sig_geterrorstr(dkim_sig_geterror(sigs[i]));
      }
      out.push_back(v);
    }
  }
  dkim_free(d);
  dkim_close(lib);
  return out;
}

} // namespace

TEST_CASE("libopendkim verifies every mime golden signed with rsa-sha256 and ed25519-sha256") {
  const auto rsa = rsa_key(), ed = ed_key();
  const dkim::signer signer({rsa, ed});
  std::size_t checked = 0;
  for (const auto& e : fs::directory_iterator(data_dir / "mime")) {
    if (e.path().extension() != ".eml") continue;
    CAPTURE(e.path().filename());
    const auto v = opendkim_verify(signer.sign(read_file(e.path()), signed_at), records({rsa, ed}));
    CHECK_MESSAGE(all_ok(v), describe(v));
    REQUIRE(v.size() == 2);
    CHECK(v[0].a == "rsa-sha256");
    CHECK(v[1].a == "ed25519-sha256");
    ++checked;
  }
  CHECK(checked >= 11);
}

TEST_CASE("libopendkim refuses the signatures after one changed byte in a signed header or in "
          "the body") {
  const auto rsa = rsa_key(), ed = ed_key();
  const std::string s = dkim::signer({rsa, ed}).sign(golden("04-multipart"), signed_at);
  REQUIRE(all_ok(opendkim_verify(s, records({rsa, ed}))));
  std::string header = s;
  header.replace(header.find("Message-ID: <multi-1@"), 21, "Message-ID: <multi-2@");
  auto v = opendkim_verify(header, records({rsa, ed}));
  CHECK_MESSAGE((v.size() == 2 && !v[0].ok && !v[1].ok), describe(v));
  std::string body = s;
  body.replace(body.find("Boulangerie"), 11, "Boulangerje");
  v = opendkim_verify(body, records({rsa, ed}));
  CHECK_MESSAGE((v.size() == 2 && !v[0].ok && !v[1].ok), describe(v));
  CHECK(v[0].why == "body hash mismatch");
}

} // namespace test_unit_dkim_opendkim_test
