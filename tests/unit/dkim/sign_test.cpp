// The signer against an independent verifier (dkimpy): composed messages and the mime goldens
// signed with rsa-sha256, ed25519-sha256 and both; what breaks a signature and what must not.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "dkim/canon.hpp"
#include "fixture.hpp"
#include "mime/compose.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_dkim_sign_test {

using namespace iaposte;
using namespace iaposte::dkim::test;
using dkim::algorithm;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> golden_names() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(data_dir / "mime"))
    if (e.path().extension() == ".eml") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A message as the content stage will have it: mime::compose with Cc, Reply-To and the
// RFC 8058 List-Unsubscribe pair.
std::string composed() {
  core::request r;
  r.request_id = "dkim-1";
  r.tenant = "acme";
  r.from = {"Équipe Acme", "contact@acme.example"};
  r.to = {{"Hélène Dubois", "helene@exemple.fr"}};
  r.cc = {{"", "manager@exemple.fr"}};
  r.reply_to = {{"", "support@acme.example"}};
  r.headers = {{"List-Unsubscribe", "<https://acme.example/u/dkim-1>, <mailto:u@acme.example>"},
               {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}};
  mime::content c{"Votre devis, Hélène", "Bonjour Hélène,\n\nVoici le devis.  \n\n-- \nAcme\n",
                  "<p>Bonjour <b>Hélène</b>,</p>"};
  return mime::compose(r, c, mime::make_message_id("acme", "dkim-1", "acme.example"), signed_at);
}

std::string replace_once(std::string s, const std::string& from, const std::string& to) {
  const auto p = s.find(from);
  REQUIRE_MESSAGE(p != std::string::npos, "no \"" << from << "\" in the message");
  return s.replace(p, from.size(), to);
}

// The signed message with `text` inserted where the original message's header starts.
std::string insert_at_top(const std::string& signed_msg, const std::string& original,
                          const std::string& text) {
  std::string s = signed_msg;
  return s.insert(s.size() - original.size(), text);
}

} // namespace

TEST_CASE("every mime golden signed with rsa-sha256, with ed25519-sha256 and with both "
          "verifies with dkimpy") {
  const auto rsa = rsa_key("acme.example"), ed = ed_key("acme.example");
  const auto names = golden_names();
  REQUIRE(names.size() >= 11);
  for (const auto& name : names) {
    CAPTURE(name);
    const std::string msg = golden(name);
    for (const auto& keys : std::vector<std::vector<dkim::signing_key>>{{rsa}, {ed}, {rsa, ed}}) {
      const std::string s = dkim::signer(keys).sign(msg, signed_at);
      auto v = verify(s, keys);
      CHECK_MESSAGE(all_ok(v), describe(v));
      REQUIRE(v.size() == keys.size());
      for (std::size_t i = 0; i < keys.size(); ++i) {
        CHECK(v[i].a == dkim::to_string(keys[i].algo()));
        CHECK(v[i].s == keys[i].selector());
        CHECK(v[i].d == "acme.example");
      }
      // The message itself is untouched: only fields are prepended.
      CHECK(s.compare(s.size() - msg.size(), msg.size(), msg) == 0);
    }
  }
}

TEST_CASE("a composed message with Cc, Reply-To and List-Unsubscribe: h= lists each signed "
          "field present, From once more than it occurs, and both signatures verify") {
  const auto rsa = rsa_key(), ed = ed_key();
  const std::string msg = composed();
  const std::string s = dkim::signer({rsa, ed}).sign(msg, signed_at);
  auto v = verify(s, {rsa, ed});
  CHECK_MESSAGE(all_ok(v), describe(v));
  CHECK(v.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    auto t = tags(field(s, "DKIM-Signature", i));
    CHECK(t["v"] == "1");
    CHECK(t["c"] == "relaxed/relaxed");
    CHECK(t["d"] == "acme.example");
    CHECK(t["t"] == "1764090564");
    CHECK(t["h"] == "From:From:To:Cc:Subject:Date:Message-ID:MIME-Version:Content-Type:Reply-To:"
                    "List-Unsubscribe:List-Unsubscribe-Post");
    CHECK(t.count("x") == 0);
    CHECK(t.count("l") == 0); // a body length limit would let anyone append content
  }
  CHECK(tags(field(s, "DKIM-Signature", 0))["a"] == "rsa-sha256");
  CHECK(tags(field(s, "DKIM-Signature", 1))["a"] == "ed25519-sha256");
}

TEST_CASE("h= names only the fields the message has") {
  const std::string s = dkim::signer({ed_key()}).sign(golden("01-ascii-text"), signed_at);
  CHECK(tags(field(s, "DKIM-Signature"))["h"] ==
        "From:From:To:Subject:Date:Message-ID:MIME-Version:Content-Type");
}

TEST_CASE("one byte changed in a signed header, or in the body, fails verification") {
  const auto rsa = rsa_key(), ed = ed_key();
  const std::string s = dkim::signer({rsa, ed}).sign(composed(), signed_at);
  REQUIRE(all_ok(verify(s, {rsa, ed})));
  SUBCASE("in Subject") {
    auto v = verify(replace_once(s, "Subject: =?UTF-8?", "Subject: =?UTF-7?"), {rsa, ed});
    REQUIRE(v.size() == 2);
    CHECK_MESSAGE(!v[0].ok, describe(v));
    CHECK_MESSAGE(!v[1].ok, describe(v));
  }
  SUBCASE("in To") {
    auto v = verify(replace_once(s, "helene@exemple.fr", "helena@exemple.fr"), {rsa, ed});
    CHECK_MESSAGE((!v[0].ok && !v[1].ok), describe(v));
  }
  SUBCASE("in List-Unsubscribe") {
    auto v = verify(replace_once(s, "acme.example/u/dkim-1", "evil.example/u/dkim-1"), {rsa, ed});
    CHECK_MESSAGE((!v[0].ok && !v[1].ok), describe(v));
  }
  SUBCASE("in the body") {
    auto v = verify(replace_once(s, "Voici le devis.", "Voici le devjs."), {rsa, ed});
    CHECK_MESSAGE((!v[0].ok && !v[1].ok), describe(v));
    CHECK_MESSAGE(v[0].why.find("body hash mismatch") != std::string::npos, describe(v));
  }
  SUBCASE("a line appended to the body") {
    auto v = verify(s + "P.S. click here\r\n", {rsa, ed});
    CHECK_MESSAGE((!v[0].ok && !v[1].ok), describe(v));
  }
}

TEST_CASE("a second From added anywhere in the header fails, also for a verifier that takes "
          "h= literally (From is over-signed)") {
  const auto rsa = rsa_key(), ed = ed_key();
  const std::string msg = composed();
  const std::string s = dkim::signer({rsa, ed}).sign(msg, signed_at);
  const std::string evil = "From: Acme Billing <billing@evil.example>\r\n";
  // dkimpy hashes one From more than h= says, on its own initiative; literal_h turns that off,
  // so that only our h=From:From can make these fail.
  for (bool literal_h : {false, true}) {
    CAPTURE(literal_h);
    REQUIRE(all_ok(verify(s, {rsa, ed}, literal_h)));
    auto v = verify(insert_at_top(s, msg, evil), {rsa, ed}, literal_h);
    CHECK_MESSAGE((!v[0].ok && !v[1].ok), describe(v));
    v = verify(replace_once(s, "\r\n\r\n", "\r\n" + evil.substr(0, evil.size() - 2) + "\r\n\r\n"),
               {rsa, ed}, literal_h);
    CHECK_MESSAGE((!v[0].ok && !v[1].ok), describe(v));
  }
}

TEST_CASE("header fields a relay adds, and unsigned fields, leave the signatures valid") {
  const auto rsa = rsa_key(), ed = ed_key();
  const std::string msg = composed();
  const std::string s = dkim::signer({rsa, ed}).sign(msg, signed_at);
  const std::string relayed =
      "Received: from client.test (client.test [127.0.0.1])\r\n\tby mx.test (Postfix) with "
      "ESMTPS id 4Xy; Wed, 25 Nov 2026 17:09:25 +0000 (UTC)\r\n" +
      s;
  auto v = verify(relayed, {rsa, ed});
  CHECK_MESSAGE(all_ok(v), describe(v));
  v = verify(replace_once(s, "\r\n\r\n", "\r\nX-Spam-Score: 0.1\r\n\r\n"), {rsa, ed});
  CHECK_MESSAGE(all_ok(v), describe(v));
  // X-Iaposte-Request-Id is not signed: changing it changes nothing.
  v = verify(replace_once(s, "X-Iaposte-Request-Id: dkim-1", "X-Iaposte-Request-Id: other"),
             {rsa, ed});
  CHECK_MESSAGE(all_ok(v), describe(v));
}

TEST_CASE("relaxed canonicalisation: refolded signed fields and whitespace changes in the body "
          "still verify") {
  const auto rsa = rsa_key(), ed = ed_key();
  const std::string s = dkim::signer({rsa, ed}).sign(composed(), signed_at);
  std::string changed = replace_once(s, "MIME-Version: 1.0", "MIME-Version:\t 1.0  ");
  changed = replace_once(changed, "\r\nTo: ", "\r\nTo:\r\n    ");
  changed = replace_once(changed, "Voici le devis.", "Voici  le \t devis. \t");
  changed += "\r\n\r\n"; // empty lines at the end of the body
  auto v = verify(changed, {rsa, ed});
  CHECK_MESSAGE(all_ok(v), describe(v));
}

TEST_CASE("several instances of a signed field are all signed, from the bottom up") {
  const auto ed = ed_key();
  const std::string msg = "From: a@acme.example\r\nTo: one@exemple.fr\r\nSubject: s\r\n"
                          "To: two@exemple.fr\r\n\r\nbody\r\n";
  const std::string s = dkim::signer({ed}).sign(msg, signed_at);
  CHECK(tags(field(s, "DKIM-Signature"))["h"] == "From:From:To:To:Subject");
  auto v = verify(s, {ed});
  CHECK_MESSAGE(all_ok(v), describe(v));
  v = verify(replace_once(s, "To: two@exemple.fr\r\n", ""), {ed});
  CHECK_MESSAGE(!v.at(0).ok, describe(v));
  // Swapping the two To fields changes what is signed.
  std::string swapped = replace_once(s, "To: one@", "To: tmp@");
  swapped = replace_once(swapped, "To: two@", "To: one@");
  swapped = replace_once(swapped, "To: tmp@", "To: two@");
  v = verify(swapped, {ed});
  CHECK_MESSAGE(!v.at(0).ok, describe(v));
}

TEST_CASE("field names are matched without regard to case") {
  const auto ed = ed_key();
  const std::string msg =
      "from: a@acme.example\r\nSUBJECT: s\r\nMessage-Id: <x@acme.example>\r\n\r\nbody\r\n";
  const std::string s = dkim::signer({ed}).sign(msg, signed_at);
  CHECK(tags(field(s, "DKIM-Signature"))["h"] == "From:From:Subject:Message-ID");
  auto v = verify(s, {ed});
  CHECK_MESSAGE(all_ok(v), describe(v));
  v = verify(replace_once(s, "Message-Id: <x@", "Message-Id: <y@"), {ed});
  CHECK_MESSAGE(!v.at(0).ok, describe(v));
}

TEST_CASE("a message without a body, and one with an empty body, are signed and verify") {
  const auto rsa = rsa_key(), ed = ed_key();
  for (std::string msg : {"From: a@acme.example\r\nSubject: nothing\r\n",
                          "From: a@acme.example\r\nSubject: nothing\r\n\r\n"}) {
    const std::string s = dkim::signer({rsa, ed}).sign(msg, signed_at);
    auto v = verify(s, {rsa, ed});
    CHECK_MESSAGE(all_ok(v), describe(v));
    // RFC 6376 §3.4.4: an empty body hashes as the empty string.
    CHECK(tags(field(s, "DKIM-Signature"))["bh"] == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  }
}

TEST_CASE("signing is deterministic: the same message and time give the same bytes (the "
          "golden 04-multipart.signed.eml)") {
  const auto rsa = rsa_key("atelier-durand.fr", "rsa2026");
  const auto ed = ed_key("atelier-durand.fr", "ed2026");
  const dkim::signer signer({rsa, ed});
  const std::string s = signer.sign(golden("04-multipart"), signed_at);
  CHECK(s == signer.sign(golden("04-multipart"), signed_at));
  const fs::path path = data_dir / "dkim" / "04-multipart.signed.eml";
  const char* update = std::getenv("IAPOSTE_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") write_file(path, s, 0644);
  CHECK_MESSAGE(s == read_file(path), "got:\n" << s);
  auto v = verify(s, {rsa, ed});
  CHECK_MESSAGE(all_ok(v), describe(v));
  // Another time: another t=, another signature.
  const std::string later = signer.sign(golden("04-multipart"), signed_at + 1s);
  CHECK(tags(field(later, "DKIM-Signature"))["t"] == "1764090565");
  CHECK(later != s);
}

TEST_CASE("x= is written only when configured, as t= plus expire_after") {
  temp_dir dir;
  write_file(dir / "ed.pem", read_file(data_dir / "dkim" / "ed25519.pem"));
  dkim::key_config cfg{"acme.example", "ed2026", algorithm::ed25519_sha256,
                       (dir / "ed.pem").string(), std::chrono::hours(24 * 7)};
  const auto key = dkim::signing_key::load(cfg);
  // dkimpy refuses an expired signature: sign at the present time.
  const auto now = std::chrono::system_clock::now();
  const std::string s = dkim::signer({key}).sign(golden("01-ascii-text"), now);
  auto t = tags(field(s, "DKIM-Signature"));
  CHECK(std::stoll(t["x"]) == std::stoll(t["t"]) + 7 * 24 * 3600);
  auto v = verify(s, {key});
  CHECK_MESSAGE(all_ok(v), describe(v));
  // Signed a month before t=1764090564 with x= a week later: dkimpy says the x= is past.
  v = verify(
      dkim::signer({key}).sign(golden("01-ascii-text"), signed_at - std::chrono::hours(24 * 30)),
      {key});
  CHECK_MESSAGE(!v.at(0).ok, describe(v));
  CHECK_MESSAGE(v.at(0).why.find("x= value is past") != std::string::npos, describe(v));
}

TEST_CASE("DKIM-Signature fields are folded to lines of at most 78 octets, CRLF, continuation "
          "lines starting with a space") {
  const auto rsa = rsa_key(), ed = ed_key();
  for (const auto& name : golden_names()) {
    CAPTURE(name);
    const std::string msg = golden(name);
    const std::string s = dkim::signer({rsa, ed}).sign(msg, signed_at);
    const std::string added = s.substr(0, s.size() - msg.size());
    std::size_t pos = 0, lines = 0;
    while (pos < added.size()) {
      const auto eol = added.find("\r\n", pos);
      REQUIRE(eol != std::string::npos);
      const std::string line = added.substr(pos, eol - pos);
      CHECK_MESSAGE(line.size() <= 78, line);
      CHECK(line.find_first_of("\r\n") == std::string::npos);
      CHECK((line.rfind("DKIM-Signature: ", 0) == 0 || line[0] == ' '));
      pos = eol + 2;
      ++lines;
    }
    CHECK(lines >= 8); // two fields, an RSA b= alone takes five lines
  }
}

TEST_CASE("a domain too long to fit in 78 columns still gives lines under 998 octets, and "
          "verifies") {
  const std::string label(63, 'a');
  const std::string domain = label + "." + label + "." + label + ".example";
  const auto ed = ed_key(domain, std::string(63, 's'));
  const std::string s = dkim::signer({ed}).sign("From: x@" + domain + "\r\n\r\nhi\r\n", signed_at);
  std::size_t pos = 0;
  while (pos < s.size()) {
    const auto eol = s.find("\r\n", pos);
    CHECK(eol - pos <= 998);
    pos = eol + 2;
  }
  auto v = verify(s, {ed});
  CHECK_MESSAGE(all_ok(v), describe(v));
}

TEST_CASE("signatures for two domains on one message both verify") {
  const auto a = ed_key("acme.example", "a"), b = rsa_key("esp.example", "b");
  const std::string s = dkim::signer({a, b}).sign(composed(), signed_at);
  auto v = verify(s, {a, b});
  CHECK_MESSAGE(all_ok(v), describe(v));
  REQUIRE(v.size() == 2);
  CHECK(v[0].d == "acme.example");
  CHECK(v[1].d == "esp.example");
}

TEST_CASE("a message that transport would alter, or whose header is not a header, is refused "
          "with a readable error") {
  const dkim::signer signer({ed_key()});
  auto refused = [&](const std::string& msg) {
    try {
      signer.sign(msg, signed_at);
    } catch (const dkim::error& e) {
      return std::string(e.what());
    }
    return std::string("(signed)");
  };
  CHECK(refused("From: a@b.example\r\n\r\nline\nother\r\n") ==
        "message: bare LF at byte 25 (every line must end with CRLF)");
  CHECK(refused("From: a@b.example\r\n\r\nline\rother\r\n") ==
        "message: bare CR at byte 25 (every line must end with CRLF)");
  CHECK(refused("From: a@b.example\nSubject: x\n\nbody\n") ==
        "message: bare LF at byte 17 (every line must end with CRLF)");
  CHECK(refused("From: a@b.example\r\nnot a field\r\n\r\nbody\r\n") ==
        "message: header line 2 is not a header field (no colon)");
  CHECK(refused(" From: a@b.example\r\n\r\nbody\r\n") ==
        "message: the first header line is a continuation line (starts with whitespace)");
  CHECK(refused("From: a@b.example\r\nSubject: no end") ==
        "message: header line 2 does not end with CRLF");
  CHECK(refused("From: a@b.example\r\nBad Name: x\r\n\r\n") ==
        "message: header line 2 has an invalid field name (printable ASCII without spaces "
        "expected)");
}

TEST_CASE("a signer without keys returns the message unchanged") {
  const std::string msg = golden("01-ascii-text");
  CHECK(dkim::signer({}).sign(msg, signed_at) == msg);
}

TEST_CASE("one signer used by several threads at once gives each the same bytes") {
  const dkim::signer signer({rsa_key(), ed_key()});
  const std::string msg = composed();
  const std::string want = signer.sign(msg, signed_at);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i)
        if (signer.sign(msg, signed_at) != want) ++mismatches[static_cast<std::size_t>(t)];
    });
  for (auto& t : threads)
    t.join();
  CHECK(mismatches == std::vector<int>(4, 0));
}

} // namespace test_unit_dkim_sign_test
