// Content and deliverability end to end (issue 12), through Kafka, iaposted, PostgreSQL and the
// SMTP capture server: a stored template with a contact and a signature, Markdown with an
// attachment and an inline image, DKIM (both algorithms) verified by dkimpy on the bytes the
// server received, one-click unsubscribe then a marketing send that ends suppressed, a 5.1.1
// bounce then a send that ends suppressed, an IDN recipient.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "dkim/dkim.hpp"
#include "dkim/dkimpy.hpp"
#include "harness.hpp"
#include "smtp/support.hpp"
#include "store/content.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_daemon_content_test {

using namespace iaposte::testing;
namespace dt = iaposte::dkim::test;
namespace st = iaposte::store;
namespace fs = std::filesystem;

namespace {

json event_of(const std::vector<json>& events, const std::string& id, const std::string& status) {
  for (const auto& e : events)
    if (e.value("request_id", "") == id && e.value("status", "") == status) return e;
  return nullptr;
}

// The daemon's DKIM keys: tests/data/dkim's, 0600 copies.
struct keys {
  dt::temp_dir dir;
  std::string setting; // IAPOSTE_DKIM_KEYS
  std::map<std::string, std::string> records;
  keys(const std::string& tenant, const std::string& domain) {
    for (auto [file, algo, selector] : {std::tuple{"rsa-2048.pem", "rsa", "rsa2026"},
                                        std::tuple{"ed25519.pem", "ed25519", "ed2026"}}) {
      const auto copy = dir / (std::string(selector) + ".pem");
      dt::write_file(copy, dt::read_file(fs::path(IAPOSTE_TEST_DATA) / "dkim" / file));
      setting += (setting.empty() ? "" : ",") + tenant + ":" + domain + ":" + selector + ":" +
                 algo + ":" + copy.string();
      auto key = iaposte::dkim::signing_key::load(
          {domain, selector, iaposte::dkim::parse_algorithm(algo), copy.string()});
      auto rec = key.public_record();
      records[rec.name] = rec.value;
    }
  }
};

dt::dkimpy& dkimpy() {
  static dt::dkimpy v(fs::path(IAPOSTE_TEST_DATA) / ".." / "peers" / "dkimpy_verify.py");
  return v;
}

} // namespace

TEST_CASE("a stored template, a stored contact and the sender's signature, signed with ed25519 "
          "and RSA: the captured message is the contact's, in French, and both signatures "
          "verify with dkimpy") {
  scenario sc("content");
  const std::string tenant = sc.name; // "content-<hex>": a valid tenant, of this test alone
  keys k(tenant, "atelier-durand.fr");
  sc.env["IAPOSTE_DKIM_KEYS"] = k.setting;

  daemon_process d(sc.env);
  REQUIRE_MESSAGE(d.wait_log("daemon.ready", 60s), d.log()); // migrations applied
  st::content_store db(stack_value("DATABASE_URL"));
  st::template_put t;
  t.tenant = tenant;
  t.name = "relance-devis";
  t.strict = true;
  t.variants.push_back({"fr", "Votre devis, {{nom}}",
                        "Bonjour {{nom}},\n\nVoici le devis pour {{entreprise}} :\n"
                        "{{#lignes}}- {{article}} : {{prix}}\n{{/lignes}}\n{{> signature}}\n",
                        "<p>Bonjour {{nom}},</p><ul>{{#lignes}}<li>{{article}}</li>{{/lignes}}"
                        "</ul>{{> signature}}",
                        ""});
  t.variants.push_back({"", "Your quote, {{nom}}", "Hello {{nom}}\n{{> signature}}\n", "", ""});
  db.put_template(t);
  st::contact c;
  c.tenant = tenant;
  c.email = "helene.martin@exemple.fr";
  c.name = "Hélène Martin";
  c.company = "Boulangerie Ça Roule";
  c.locale = "fr";
  const auto stored = db.upsert_contact(c);
  db.set_signature({tenant, "contact@atelier-durand.fr", "<p>Jean Durand</p>", "Jean Durand", {}});

  const std::string id = sc.name + "-tpl";
  produce(sc.requests,
          {{{"request_id", id},
            {"tenant", tenant},
            {"from", {{"email", "contact@atelier-durand.fr"}, {"name", "Atelier Durand"}}},
            {"contact_id", stored.id},
            {"template", {{"name", "relance-devis"}}},
            {"variables",
             {{"lignes", json::array({{{"article", "Table en chêne"}, {"prix", "480 €"}}})}}}}});
  topic_reader status(sc.status);
  status.until([&](const auto& s) { return terminal_ids(s).count(id) > 0; }, 60s);
  auto sent = event_of(status.events(), id, "sent");
  REQUIRE_MESSAGE(sent.is_object(), status.events().back().dump());
  auto copies = captured(id);
  REQUIRE(copies.size() == 1);
  const std::string& m = copies[0];
  CHECK(m.find("To: =?UTF-8?") != std::string::npos); // Hélène Martin, RFC 2047
  CHECK(m.find("<helene.martin@exemple.fr>") != std::string::npos);
  CHECK(m.find("Subject: =?UTF-8?Q?Votre_devis=2C_H=C3=A9l=C3=A8ne_Martin?=") != std::string::npos);
  CHECK(m.find("Boulangerie =C3=87a Roule") != std::string::npos); // the contact's company
  CHECK(m.find("Jean Durand") != std::string::npos);               // the signature
  auto verdicts = dkimpy().verify(m, k.records);
  REQUIRE(verdicts.size() == 2);
  CHECK_MESSAGE(dt::all_ok(verdicts), dt::describe(verdicts));
  CHECK(verdicts[0].a == "rsa-sha256");
  CHECK(verdicts[1].a == "ed25519-sha256");
  std::string altered = m;
  altered[altered.find("Table en ch")] = 't';
  CHECK_FALSE(dt::all_ok(dkimpy().verify(altered, k.records)));
}

TEST_CASE("inline Markdown with an attachment and an inline image reaches the server as "
          "multipart/mixed around multipart/related, with an IDN recipient") {
  scenario sc("markdown");
  daemon_process d(sc.env);
  REQUIRE_MESSAGE(d.wait_log("daemon.ready", 60s), d.log());
  const std::string id = sc.name + "-md";
  produce(sc.requests,
          {{{"request_id", id},
            {"tenant", "acme"},
            {"from", "contact@acme.fr"},
            {"to", json::array({"Hélène <helene@exemple-été.fr>"})},
            {"subject", "Nos horaires, {nom}"},
            {"markdown", "Bonjour {nom},\n\n![logo](cid:logo@acme.fr)\n\n| jour | horaires |\n"
                         "| --- | --- |\n| 24 décembre | 9 h – 12 h |\n"},
            {"variables", {{"nom", "Hélène"}}},
            {"attachments", json::array({{{"filename", "devis n°42.pdf"},
                                          {"content_type", "application/pdf"},
                                          {"content_base64", "JVBERi0xLjQKJcOkw7zDtsOfCg=="}},
                                         {{"inline_cid", "logo@acme.fr"},
                                          {"content_type", "image/png"},
                                          {"content_base64", "iVBORw0KGgo="}}})}}});
  topic_reader status(sc.status);
  status.until([&](const auto& s) { return terminal_ids(s).count(id) > 0; }, 60s);
  REQUIRE_MESSAGE(event_of(status.events(), id, "sent").is_object(), status.events().back().dump());
  auto copies = captured(id);
  REQUIRE(copies.size() == 1);
  const std::string& m = copies[0];
  CHECK(m.find("Content-Type: multipart/mixed") != std::string::npos);
  CHECK(m.find("multipart/related") != std::string::npos);
  CHECK(m.find("filename*=utf-8''devis%20n%C2%B042.pdf") != std::string::npos);
  CHECK(m.find("Content-ID: <logo@acme.fr>") != std::string::npos);
  CHECK(m.find("<table>") != std::string::npos);
  CHECK(m.find("helene@exemple-été.fr") != std::string::npos); // U-labels in the header
}

TEST_CASE("one-click unsubscribe: the link in a marketing mail, POSTed, stops the next marketing "
          "mail to that address (suppressed) but not transactional mail") {
  scenario sc("unsub");
  iaposte::smtp::test::temp_dir dir;
  const auto secret = dir / "unsubscribe.key";
  dt::write_file(secret, std::string(48, 'k') + "-secret-for-tests-only");
  const int port = iaposte::smtp::test::free_port();
  sc.env["IAPOSTE_ADMIN_PORT"] = std::to_string(port);
  sc.env["IAPOSTE_UNSUBSCRIBE_BASE_URL"] =
      "http://127.0.0.1:" + std::to_string(port) + "/unsubscribe/";
  sc.env["IAPOSTE_UNSUBSCRIBE_MAILTO"] = "desabonnement@acme.fr";
  sc.env["IAPOSTE_UNSUBSCRIBE_SECRET_FILES"] = secret.string();
  sc.env["IAPOSTE_UNSUBSCRIBE_ALLOW_HTTP"] = "true";
  daemon_process d(sc.env);
  REQUIRE_MESSAGE(d.wait_log("daemon.ready", 60s), d.log());
  const std::string to = sc.name + "@exemple.fr";
  auto marketing = [&](const std::string& id) {
    return json{{"request_id", id},        {"tenant", "acme"},
                {"from", "news@acme.fr"},  {"to", to},
                {"subject", "Nos soldes"}, {"text", "Tout à -50 %"},
                {"category", "marketing"}, {"list", "newsletter"}};
  };
  const std::string first = sc.name + "-m1";
  produce(sc.requests, {marketing(first)});
  topic_reader status(sc.status);
  status.until([&](const auto& s) { return terminal_ids(s).count(first) > 0; }, 60s);
  auto copies = captured(first);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].find("List-Unsubscribe-Post: List-Unsubscribe=One-Click") != std::string::npos);
  std::smatch url;
  // The header may be folded: unfold before looking for the URL.
  const std::string unfolded = std::regex_replace(copies[0], std::regex("\r\n[ \t]+"), " ");
  REQUIRE(std::regex_search(
      unfolded, url,
      std::regex(
          "List-Unsubscribe: <http://127\\.0\\.0\\.1:[0-9]+(/unsubscribe/[A-Za-z0-9_-]+)>")));
  const std::string path = url[1];
  // A GET only shows the confirmation page; the one-click POST unsubscribes.
  CHECK(http_get(port, path).status == 200);
  auto post =
      http_post(port, path, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click");
  CHECK_MESSAGE(post.status == 200, post.body);
  std::string forged = path;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  CHECK(http_post(port, forged, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click")
            .status == 400);

  const std::string second = sc.name + "-m2", receipt = sc.name + "-t1";
  json transactional = marketing(receipt);
  transactional["category"] = "transactional";
  transactional["subject"] = "Votre reçu";
  produce(sc.requests, {marketing(second), transactional});
  status.until(
      [&](const auto& s) {
        auto t = terminal_ids(s);
        return t.count(second) && t.count(receipt);
      },
      60s);
  auto suppressed = event_of(status.events(), second, "suppressed");
  REQUIRE_MESSAGE(suppressed.is_object(), status.events().back().dump());
  CHECK(suppressed["reason"].get<std::string>().find("unsubscribe, list newsletter") !=
        std::string::npos);
  CHECK(captured(second).empty());
  CHECK(event_of(status.events(), receipt, "sent").is_object());
  CHECK(captured(receipt).size() == 1);
}

TEST_CASE("a 5.1.1 bounce puts the address on the suppression list: the next send to it ends "
          "suppressed, and nothing more reaches the server") {
  scenario sc("hardbounce");
  daemon_process d(sc.env);
  REQUIRE_MESSAGE(d.wait_log("daemon.ready", 60s), d.log());
  const std::string to = "bounce-" + sc.name + "@exemple.fr"; // the capture answers 550 5.1.1
  auto request = [&](const std::string& id) {
    return json{{"request_id", id}, {"tenant", "acme"},     {"from", "contact@acme.fr"},
                {"to", to},         {"subject", "Facture"}, {"text", "Votre facture."}};
  };
  const std::string first = sc.name + "-1", second = sc.name + "-2";
  produce(sc.requests, {request(first)});
  topic_reader status(sc.status);
  status.until([&](const auto& s) { return terminal_ids(s).count(first) > 0; }, 60s);
  auto bounced = event_of(status.events(), first, "bounced");
  REQUIRE_MESSAGE(bounced.is_object(), status.events().back().dump());
  CHECK(bounced["smtp"]["enhanced"] == "5.1.1");

  produce(sc.requests, {request(second)});
  status.until([&](const auto& s) { return terminal_ids(s).count(second) > 0; }, 60s);
  auto suppressed = event_of(status.events(), second, "suppressed");
  REQUIRE_MESSAGE(suppressed.is_object(), status.events().back().dump());
  CHECK(suppressed["reason"].get<std::string>().find("hard_bounce") != std::string::npos);
  st::content_store db(stack_value("DATABASE_URL"));
  auto entry = db.is_suppressed("acme", to, st::mail_category::transactional, "");
  REQUIRE(entry);
  CHECK(entry->reason == st::suppression_reason::hard_bounce);
  CHECK(entry->source_request_id == first);
}

} // namespace test_integration_daemon_content_test
