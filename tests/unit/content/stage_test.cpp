// The content stage without the stack (lib/content): a request and what the store holds for it
// → the signed message, checked against golden files (tests/data/content/, parsed again by
// Python's email package with policy.strict in unit.content_goldens) and by dkimpy.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "../dkim/dkimpy.hpp"
#include "content/stage.hpp"
#include "core/request.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_content_stage_test {

using namespace iaposte;
using nlohmann::json;
namespace fs = std::filesystem;
namespace dt = iaposte::dkim::test;

namespace {

const fs::path data = IAPOSTE_TEST_DATA;
// 2025-11-25T17:09:24Z: fixed, and in the past (dkimpy refuses a t= in the future).
const auto date = core::clock::time_point{} + std::chrono::seconds(1764090564);

core::request parse(const json& j) {
  auto r = core::parse_request(j.dump(), core::limits{});
  REQUIRE_MESSAGE(r.ok(), r.error);
  return std::move(*r.value);
}

store::contact helene() {
  store::contact c;
  c.id = 4217;
  c.tenant = "atelier-durand";
  c.email = "helene.martin@exemple.fr";
  c.name = "Hélène Martin";
  c.company = "Boulangerie Ça Roule";
  c.locale = "fr";
  c.attributes = {{"ville", "Lyon"}, {"nom", "pas celui-ci"}};
  return c;
}

store::signature signature() {
  return {"atelier-durand",
          "contact@atelier-durand.fr",
          "<p>Jean Durand<br>Atelier Durand</p>",
          "Jean Durand\nAtelier Durand",
          {}};
}

store::resolved_template relance(std::string text) {
  store::resolved_template t;
  t.name = "relance-devis";
  t.version = 2;
  t.flags.strict = true;
  t.parts.subject = "Votre devis, {{nom}}";
  t.parts.text = std::move(text);
  t.parts.html = "<p>Bonjour {{nom}},</p><p>Voici le devis pour <b>{{entreprise}}</b> "
                 "({{ville}}) :</p><ul>{{#lignes}}<li>{{article}} : {{prix}}</li>{{/lignes}}</ul>";
  return t;
}

const std::string relance_text = "Bonjour {{nom}},\n\nVoici le devis pour {{entreprise}} "
                                 "({{ville}}) :\n{{#lignes}}- {{article}} : {{prix}}\n{{/lignes}}";

json template_request() {
  return {{"request_id", "relance-2026-12:0007"},
          {"tenant", "atelier-durand"},
          {"from", {{"email", "contact@atelier-durand.fr"}, {"name", "Atelier Durand"}}},
          {"contact_id", 4217},
          {"template", {{"name", "relance-devis"}}},
          {"variables",
           {{"lignes", json::array({{{"article", "Table en chêne"}, {"prix", "480 €"}},
                                    {{"article", "Deux chaises"}, {"prix", "160 €"}}})}}}};
}

// Compares with tests/data/content/<name>.eml; IAPOSTE_GOLDEN_WRITE=1 writes it instead.
void check_golden(const std::string& name, const std::string& message) {
  const fs::path path = data / "content" / (name + ".eml");
  if (std::getenv("IAPOSTE_GOLDEN_WRITE")) {
    std::ofstream(path, std::ios::binary) << message;
    MESSAGE("wrote " << path);
    return;
  }
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "no golden " << path << " (IAPOSTE_GOLDEN_WRITE=1 writes it)");
  const std::string want((std::istreambuf_iterator<char>(in)), {});
  CHECK_MESSAGE(message == want, "differs from " << path << ":\n" << message);
}

// The keys of tests/data/dkim, 0600 copies (git keeps no modes), as the daemon gets them.
std::vector<content::dkim_key> test_keys(const std::string& tenant, const std::string& domain) {
  static dt::temp_dir dir;
  std::vector<content::dkim_key> keys;
  for (auto [file, algo, selector] :
       {std::tuple{"rsa-2048.pem", dkim::algorithm::rsa_sha256, "rsa2026"},
        std::tuple{"ed25519.pem", dkim::algorithm::ed25519_sha256, "ed2026"}}) {
    const auto copy = dir / (std::string(selector) + ".pem");
    dt::write_file(copy, dt::read_file(data / "dkim" / file));
    keys.push_back({tenant, {domain, selector, algo, copy.string()}});
  }
  return keys;
}

std::map<std::string, std::string> records(const content::stage& s) {
  std::map<std::string, std::string> r;
  for (const auto& rec : s.dns_records())
    r[rec.name] = rec.value;
  return r;
}

dt::dkimpy& dkimpy() {
  static dt::dkimpy v(data / ".." / "peers" / "dkimpy_verify.py");
  return v;
}

} // namespace

TEST_CASE("a stored template with a contact: the contact is the recipient, its fields fill the "
          "variables, the request's win, the sender's signature is appended") {
  content::stage stage(content::stage_config{});
  auto req = parse(template_request());
  store::content_answer stored;
  stored.contacts.push_back(helene());
  stored.tmpl = relance(relance_text);
  stored.sig = signature();
  auto d = stage.render(req, stored);
  REQUIRE_MESSAGE(d.ok(), d.rejection);
  REQUIRE(req.to.size() == 1);
  CHECK(req.to[0].email == "helene.martin@exemple.fr");
  CHECK(req.to[0].display_name == "Hélène Martin");
  CHECK(d.content.subject == "Votre devis, Hélène Martin"); // the contact's name, not attributes'
  CHECK(d.content.text.find("Boulangerie Ça Roule (Lyon)") != std::string::npos);
  CHECK(d.content.text.find("- Deux chaises : 160 €") != std::string::npos);
  CHECK(d.content.text.find("\n-- \nJean Durand\nAtelier Durand") != std::string::npos);
  CHECK(d.content.html.find("<b>Boulangerie Ça Roule</b>") != std::string::npos);
  CHECK(d.content.html.find("<div class=\"signature\"><p>Jean Durand") != std::string::npos);
  CHECK(d.contact.at("entreprise") == "Boulangerie Ça Roule"); // for the AI prompt
  auto done = stage.finish(req, d.content, stage.message_id(req), date);
  REQUIRE(done.rejection.empty());
  check_golden("01-template-contact-signature", done.message);

  // The request's own variables win over the contact's fields.
  auto j = template_request();
  j["variables"]["nom"] = "Madame Martin";
  auto req2 = parse(j);
  auto d2 = stage.render(req2, stored);
  REQUIRE(d2.ok());
  CHECK(d2.content.subject == "Votre devis, Madame Martin");
}

TEST_CASE("a template that places {{> signature}} gets it there and not a second time") {
  content::stage stage(content::stage_config{});
  auto req = parse(template_request());
  store::content_answer stored;
  stored.contacts.push_back(helene());
  stored.tmpl = relance(relance_text + "\nBien à vous,\n{{> signature}}\n");
  stored.tmpl->parts.html += "{{> signature}}";
  stored.sig = signature();
  auto d = stage.render(req, stored);
  REQUIRE_MESSAGE(d.ok(), d.rejection);
  CHECK(d.content.text.find("Bien à vous,\nJean Durand\nAtelier Durand") != std::string::npos);
  CHECK(d.content.text.find("-- ") == std::string::npos);
  CHECK(d.content.html.find("</ul><p>Jean Durand<br>Atelier Durand</p>") != std::string::npos);
  CHECK(d.content.html.find("class=\"signature\"") == std::string::npos);
}

TEST_CASE("inline Markdown with an attachment and an inline image") {
  content::stage stage(content::stage_config{});
  json j = {{"request_id", "info-2026-12:0001"},
            {"tenant", "atelier-durand"},
            {"from", "contact@atelier-durand.fr"},
            {"to", "helene.martin@exemple.fr"},
            {"subject", "Nos horaires de fin d'année, {nom}"},
            {"markdown", "Bonjour {nom},\n\n![logo](cid:logo@atelier-durand.fr)\n\n| jour | "
                         "horaires |\n| --- | --- |\n| 24 décembre | 9 h – 12 h |\n\nLe devis "
                         "est joint. Voir https://atelier-durand.fr"},
            {"variables", {{"nom", "*Hélène*"}}},
            {"attachments", json::array({{{"filename", "devis n°42 — table en chêne.pdf"},
                                          {"content_type", "application/pdf"},
                                          {"content_base64", "JVBERi0xLjQKJcOkw7zDtsOfCg=="}},
                                         {{"inline_cid", "logo@atelier-durand.fr"},
                                          {"content_type", "image/png"},
                                          {"content_base64", "iVBORw0KGgo="}}})}};
  auto req = parse(j);
  auto d = stage.render(req, {});
  REQUIRE_MESSAGE(d.ok(), d.rejection);
  CHECK(d.content.html.find("<table>") != std::string::npos);
  CHECK(d.content.html.find("<em>") == std::string::npos); // the value's * are escaped
  CHECK(d.content.html.find("src=\"cid:logo@atelier-durand.fr\"") != std::string::npos);
  CHECK(d.content.text.find("24 décembre") != std::string::npos);
  CHECK(d.content.attachments.size() == 2);
  auto done = stage.finish(req, d.content, stage.message_id(req), date);
  REQUIRE(done.rejection.empty());
  CHECK(done.message.find("multipart/mixed") != std::string::npos);
  CHECK(done.message.find("multipart/related") != std::string::npos);
  check_golden("02-markdown-attachment-inline-image", done.message);
}

TEST_CASE("HTML alone gets a generated text alternative") {
  content::stage stage(content::stage_config{});
  auto req = parse({{"request_id", "r-1"},
                    {"tenant", "acme"},
                    {"from", "contact@acme.fr"},
                    {"to", "client@exemple.fr"},
                    {"subject", "Bonjour"},
                    {"html", "<p>Bonjour <b>{nom}</b>,</p><ul><li>un</li><li>deux</li></ul>"},
                    {"variables", {{"nom", "Hélène"}}}});
  auto d = stage.render(req, {});
  REQUIRE(d.ok());
  CHECK(d.content.text.find("Bonjour Hélène") != std::string::npos);
  CHECK(d.content.text.find("- un") != std::string::npos);
}

TEST_CASE("marketing mail carries signed one-click List-Unsubscribe headers; both DKIM "
          "signatures verify with dkimpy, and one byte changed breaks them") {
  content::stage_config cfg;
  cfg.dkim_keys = test_keys("atelier-durand", "atelier-durand.fr");
  std::string seen_address, seen_list;
  cfg.unsubscribe = [&](std::string_view, std::string_view address, std::string_view list) {
    seen_address = address;
    seen_list = list;
    return std::make_pair(
        std::string("<https://mail.atelier-durand.fr/unsubscribe/TOKEN>, "
                    "<mailto:desabonnement@atelier-durand.fr?subject=unsubscribe%20TOKEN>"),
        std::string("List-Unsubscribe=One-Click"));
  };
  content::stage stage(cfg);
  auto j = template_request();
  j["category"] = "marketing";
  j["list"] = "newsletter";
  auto req = parse(j);
  store::content_answer stored;
  stored.contacts.push_back(helene());
  stored.tmpl = relance(relance_text);
  auto d = stage.render(req, stored);
  REQUIRE(d.ok());
  auto done = stage.finish(req, d.content, stage.message_id(req), date);
  REQUIRE_MESSAGE(done.rejection.empty(), done.rejection);
  CHECK(seen_address == "helene.martin@exemple.fr");
  CHECK(seen_list == "newsletter");
  CHECK(done.message.find("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") !=
        std::string::npos);
  CHECK(done.message.rfind("DKIM-Signature: v=1; a=rsa-sha256;", 0) == 0);
  check_golden("03-marketing-dkim", done.message);

  auto verdicts = dkimpy().verify(done.message, records(stage));
  REQUIRE(verdicts.size() == 2);
  CHECK_MESSAGE(dt::all_ok(verdicts), dt::describe(verdicts));
  // h= covers the unsubscribe headers (RFC 8058 §4).
  CHECK(done.message.find("List-Unsubscribe:List-Unsubscribe-Post;") != std::string::npos);
  std::string altered = done.message;
  altered[altered.find("TOKEN>")] = 'X';
  auto bad = dkimpy().verify(altered, records(stage));
  REQUIRE(bad.size() == 2);
  CHECK_FALSE(bad[0].ok);
  CHECK_FALSE(bad[1].ok);
  // Another tenant's mail from the same domain is not signed with these keys.
  auto other = req;
  other.tenant = "autre";
  CHECK(stage.finish(other, d.content, stage.message_id(other), date)
            .message.find("DKIM-Signature") == std::string::npos);
}

TEST_CASE("the request's own unsubscribe links win; marketing without any is rejected") {
  content::stage stage(content::stage_config{});
  auto j = template_request();
  j["category"] = "marketing";
  auto req = parse(j);
  store::content_answer stored;
  stored.contacts.push_back(helene());
  stored.tmpl = relance(relance_text);
  auto d = stage.render(req, stored);
  REQUIRE(d.ok());
  auto done = stage.finish(req, d.content, stage.message_id(req), date);
  CHECK(done.message.empty());
  CHECK(done.rejection.find("marketing mail needs unsubscribe links") == 0);
  j["unsubscribe"] = {{"url", "https://atelier-durand.fr/desabonnement?c=4217"}};
  auto req2 = parse(j);
  auto d2 = stage.render(req2, stored);
  auto done2 = stage.finish(req2, d2.content, stage.message_id(req2), date);
  REQUIRE(done2.rejection.empty());
  CHECK(done2.message.find("List-Unsubscribe: <https://atelier-durand.fr/desabonnement?c=4217>") !=
        std::string::npos);
}

TEST_CASE("what cannot be rendered is a rejection that says why") {
  content::stage stage(content::stage_config{});
  store::content_answer stored;
  stored.tmpl = relance(relance_text);
  SUBCASE("an unknown contact") {
    auto req = parse(template_request());
    stored.contacts.push_back(std::nullopt);
    CHECK(stage.render(req, stored).rejection ==
          "contact_id: no contact 4217 in tenant atelier-durand");
  }
  SUBCASE("a recipient contact that does not exist") {
    auto j = template_request();
    j.erase("contact_id");
    j["to"] = json::array({{{"contact", "inconnu@exemple.fr"}}});
    auto req = parse(j);
    stored.contacts.push_back(std::nullopt);
    CHECK(stage.render(req, stored).rejection ==
          "to[0].contact: no contact inconnu@exemple.fr in tenant atelier-durand");
  }
  SUBCASE("the store's template error") {
    auto req = parse(template_request());
    stored.contacts.push_back(helene());
    stored.tmpl.reset();
    stored.template_error = "unknown template 'relance-devis'";
    CHECK(stage.render(req, stored).rejection == "unknown template 'relance-devis'");
  }
  SUBCASE("a strict template missing a variable") {
    auto req = parse(template_request());
    stored.contacts.push_back(helene());
    stored.tmpl->parts.text += "{{remise}}";
    CHECK(stage.render(req, stored).rejection.find("unresolved variable: {{remise}} in text") !=
          std::string::npos);
  }
  SUBCASE("inline content missing a variable") {
    auto req = parse({{"request_id", "r-1"},
                      {"tenant", "acme"},
                      {"from", "contact@acme.fr"},
                      {"to", "client@exemple.fr"},
                      {"subject", "Bonjour {nom}"},
                      {"markdown", "Votre code : {code}"}});
    CHECK(stage.render(req, {}).rejection == "unresolved variables: {code} {nom}");
  }
  SUBCASE("Markdown showing an inline image that is not attached") {
    auto req = parse({{"request_id", "r-1"},
                      {"tenant", "acme"},
                      {"from", "contact@acme.fr"},
                      {"to", "client@exemple.fr"},
                      {"subject", "Logo"},
                      {"markdown", "![logo](cid:logo@acme.fr)"},
                      {"attachments", json::array({{{"inline_cid", "autre@acme.fr"},
                                                    {"content_type", "image/png"},
                                                    {"content_base64", "iVBORw0KGgo="}}})}});
    CHECK(stage.render(req, {}).rejection.find("cid:logo@acme.fr") != std::string::npos);
  }
}

TEST_CASE("query_for asks the store for the contacts, the template and the recipients named") {
  auto j = template_request();
  j["to"] = json::array({{{"contact", "Paul@Exemple.fr"}}, "direction@atelier-durand.fr"});
  j["template"]["locale"] = "fr-CA";
  j["category"] = "marketing";
  j["list"] = "newsletter";
  auto req = parse(j);
  auto q = content::stage::query_for(req);
  CHECK(q.tenant == "atelier-durand");
  REQUIRE(q.contacts.size() == 2);
  CHECK(q.contacts[0].id == 4217); // contact_id first: its fields fill the variables
  CHECK(q.contacts[1].email == "Paul@Exemple.fr");
  REQUIRE(q.tmpl);
  CHECK(q.tmpl->locales == std::vector<std::string>{"fr-ca"});
  CHECK(q.tmpl->contact_locale);
  CHECK(q.recipients == std::vector<std::string>{"direction@atelier-durand.fr"});
  CHECK(q.category == store::mail_category::marketing);
  CHECK(q.list == "newsletter");
  CHECK(q.sender == "contact@atelier-durand.fr");
}

} // namespace test_unit_content_stage_test
