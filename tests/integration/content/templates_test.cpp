// Templates in PostgreSQL through content_store: numbered immutable versions, the active one,
// locale fallback, the template's flags, the validator, readable errors.
#include <doctest/doctest.h>

#include <set>
#include <thread>

#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_content_templates_test {

using namespace iaposte;
using namespace iaposte::testing;

namespace {

store::template_parts variant(const std::string& locale, const std::string& subject,
                              const std::string& text) {
  return {locale, subject, text, "<p>" + text + "</p>", ""};
}

store::template_put put(const std::string& name, std::vector<store::template_parts> variants) {
  store::template_put t;
  t.tenant = "acme";
  t.name = name;
  t.variants = std::move(variants);
  return t;
}

std::string what(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

} // namespace

TEST_CASE("template versions are numbered 1, 2, 3 per template; the first is active, later ones "
          "only when activated") {
  content_database db;
  store::content_store s(db.url());
  CHECK(s.put_template(put("bienvenue", {variant("", "Bienvenue", "v1")})) == 1);
  CHECK(s.put_template(put("bienvenue", {variant("", "Bienvenue", "v2")})) == 2);
  CHECK(s.put_template(put("relance", {variant("", "Relance", "r1")})) == 1);
  auto t = put("bienvenue", {variant("", "Bienvenue", "v3")});
  CHECK(s.put_template(t) == 3);

  auto active = s.get_template("acme", "bienvenue");
  CHECK(active.version == 1);
  CHECK(active.active_version == 1);
  CHECK(active.variants.at(0).text == "v1");
  CHECK(s.get_template("acme", "bienvenue", 3).variants.at(0).text == "v3");

  s.activate_template("acme", "bienvenue", 2);
  CHECK(s.get_template("acme", "bienvenue").variants.at(0).text == "v2");
  t.activate = true;
  t.variants[0].text = "v4";
  CHECK(s.put_template(t) == 4);
  CHECK(s.get_template("acme", "bienvenue").version == 4);

  const auto list = s.list_templates("acme");
  REQUIRE(list.size() == 2);
  CHECK(list[0].name == "bienvenue");
  CHECK(list[0].active_version == 4);
  CHECK(list[0].latest_version == 4);
  CHECK(list[0].locales == std::vector<std::string>{""});
  CHECK(list[1].name == "relance");
  CHECK(s.list_templates("other").empty());
}

TEST_CASE("template versions are immutable: PostgreSQL refuses an UPDATE of a version") {
  content_database db;
  store::content_store s(db.url());
  s.put_template(put("facture", {variant("", "Facture", "original")}));
  const std::string error = what(
      [&] { db.query("UPDATE template_versions SET text = 'changed' WHERE name = 'facture'"); });
  CHECK(error.find("template versions are immutable") != std::string::npos);
  CHECK(s.get_template("acme", "facture", 1).variants.at(0).text == "original");
}

TEST_CASE("concurrent puts of one template each get their own number") {
  content_database db;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<int> numbers;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&] {
      store::content_store s(db.url());
      for (int i = 0; i < 5; ++i) {
        const int v = s.put_template(put("promo", {variant("", "Promo", "x")}));
        std::lock_guard lk(mu);
        numbers.push_back(v);
      }
    });
  for (auto& t : threads)
    t.join();
  std::set<int> distinct(numbers.begin(), numbers.end());
  CHECK(distinct.size() == 20);
  CHECK(*distinct.begin() == 1);
  CHECK(*distinct.rbegin() == 20);
}

TEST_CASE("locale variants: fr-CA falls back to fr, then to the default; locales are stored "
          "lower-case") {
  content_database db;
  store::content_store s(db.url());
  s.put_template(put("devis", {variant("", "Quote", "default"), variant("fr", "Devis", "fr"),
                               variant("fr_CA", "Soumission", "fr-ca")}));
  const auto v = s.get_template("acme", "devis");
  REQUIRE(v.variants.size() == 3);
  CHECK(v.variants[0].locale == "");
  CHECK(v.variants[1].locale == "fr");
  CHECK(v.variants[2].locale == "fr-ca");
  auto pick = [&](std::vector<std::string> wanted) {
    const auto* p = store::pick_variant(v.variants, wanted);
    return p ? p->text : std::string("(none)");
  };
  CHECK(pick({"fr-CA"}) == "fr-ca");
  CHECK(pick({"fr-BE"}) == "fr");
  CHECK(pick({"fr-Latn-BE"}) == "fr");
  CHECK(pick({"de", "fr"}) == "fr");
  CHECK(pick({"de"}) == "default");
  CHECK(pick({}) == "default");
  CHECK(pick({"fr-x-private"}) == "fr");

  s.put_template(put("sans-defaut", {variant("fr", "Seul", "fr only")}));
  const auto only = s.get_template("acme", "sans-defaut");
  CHECK(store::pick_variant(only.variants, {"de"}) == nullptr);
  CHECK(store::pick_variant(only.variants, {"fr-FR"})->text == "fr only");
}

TEST_CASE("the strict and raw-HTML flags are stored with the template and changed only when "
          "given") {
  content_database db;
  store::content_store s(db.url());
  auto t = put("strict", {variant("", "S", "x")});
  t.strict = true;
  s.put_template(t);
  auto v = s.get_template("acme", "strict");
  CHECK(v.flags.strict);
  CHECK_FALSE(v.flags.allow_raw_html);
  CHECK(db.count("SELECT count(*) FROM templates WHERE name = 'strict' AND strict") == 1);

  t.strict.reset();
  t.allow_raw_html = true;
  s.put_template(t);
  v = s.get_template("acme", "strict");
  CHECK(v.flags.strict); // not given: unchanged
  CHECK(v.flags.allow_raw_html);

  t.strict = false;
  t.allow_raw_html.reset();
  s.put_template(t);
  v = s.get_template("acme", "strict", 1); // flags belong to the template, every version
  CHECK_FALSE(v.flags.strict);
  CHECK(v.flags.allow_raw_html);
}

TEST_CASE("the validator sees every variant with the flags; its error refuses the version and "
          "stores nothing") {
  content_database db;
  store::content_store s(db.url());
  std::vector<std::string> seen;
  auto validate = [&](const store::template_parts& p, const store::template_flags& f) {
    seen.push_back(p.locale + (f.strict ? ":strict" : ":lenient"));
    if (p.text.find("{{#") != std::string::npos && p.text.find("{{/") == std::string::npos)
      return std::string("unclosed section");
    return std::string();
  };
  auto t = put("valide", {variant("", "Ok", "Bonjour"), variant("en", "Ok", "Hello")});
  t.strict = true;
  CHECK(s.put_template(t, validate) == 1);
  CHECK(seen == std::vector<std::string>{":strict", "en:strict"});

  auto bad = put("valide", {variant("", "Ok", "Bonjour"), variant("en", "Ok", "{{#x}} Hello")});
  const std::string error = what([&] { s.put_template(bad, validate); });
  CHECK(error == "variant en: unclosed section");
  CHECK_THROWS_AS(s.put_template(bad, validate), std::invalid_argument);
  CHECK(db.count("SELECT count(*) FROM template_versions WHERE name = 'valide'") == 2);
  CHECK(s.get_template("acme", "valide").version == 1);
  CHECK(s.put_template(put("valide", {variant("", "Ok", "Encore")}), validate) == 2);
  // A refused new template leaves no template row behind.
  CHECK_THROWS_AS(s.put_template(put("neuf", {variant("", "x", "{{#open")}), validate),
                  std::invalid_argument);
  CHECK(db.count("SELECT count(*) FROM templates WHERE name = 'neuf'") == 0);
}

TEST_CASE("templates: readable errors for unknown names and versions and bad input") {
  content_database db;
  store::content_store s(db.url());
  s.put_template(put("connu", {variant("", "x", "y")}));
  CHECK(what([&] { s.get_template("acme", "inconnu"); }) ==
        "unknown template 'inconnu' of tenant acme");
  CHECK_THROWS_AS(s.get_template("acme", "inconnu"), store::not_found);
  CHECK(what([&] { s.get_template("acme", "connu", 7); }) ==
        "unknown version 7 of template 'connu' of tenant acme (versions 1 to 1)");
  CHECK_THROWS_AS(s.activate_template("acme", "connu", 2), store::not_found);
  CHECK_THROWS_AS(s.activate_template("acme", "inconnu", 1), store::not_found);
  CHECK(s.get_template("acme", "connu").version == 1);

  CHECK_THROWS_AS(s.put_template(put("a b", {variant("", "x", "y")})), std::invalid_argument);
  CHECK_THROWS_AS(s.put_template(put("ok", {})), std::invalid_argument);
  CHECK(what([&] {
          s.put_template(put("ok", {{"", "subject only", "", "", ""}}));
        }) == "default variant has no body (text, html or markdown)");
  CHECK(what([&] {
          s.put_template(put("ok", {variant("fr", "x", "y"), variant("FR", "x", "y")}));
        }).find("given twice") != std::string::npos);
  CHECK(what([&] {
          s.put_template(put("ok", {variant("français", "x", "y")}));
        }).find("invalid locale") != std::string::npos);
  CHECK(what([&] {
          s.put_template(put("ok", {variant("", "x", "caf\xe9")}));
        }).find("not valid UTF-8") != std::string::npos);
  auto t = put("ok", {variant("", "x", "y")});
  t.tenant = "Acme";
  CHECK(what([&] { s.put_template(t); }).find("invalid tenant") != std::string::npos);
  CHECK(db.count("SELECT count(*) FROM templates WHERE name = 'ok'") == 0);
}

TEST_CASE("PostgreSQL unreachable: the synchronous API throws a readable error without the "
          "password") {
  const std::string url =
      "postgresql://iaposte:S3cret@127.0.0.1:" + std::to_string(free_port()) + "/iaposte";
  store::content_store s(url);
  const std::string error = what([&] { s.list_templates("acme"); });
  CHECK(error.find("cannot connect to PostgreSQL at 127.0.0.1:") == 0);
  CHECK(error.find("S3cret") == std::string::npos);
}

} // namespace test_integration_content_templates_test
