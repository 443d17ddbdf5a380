// The request's content fields (issue 12): a stored template, contacts as recipients, Markdown,
// the mail category, the list and producer-given unsubscribe links.
#include <doctest/doctest.h>

#include "core/request.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_core_content_fields_test {

using namespace iaposte::core;
using nlohmann::json;

namespace {

json base() {
  return {{"request_id", "r-1"}, {"tenant", "acme"}, {"from", "contact@acme.fr"}};
}

parse_result parse(const json& j) {
  return parse_request(j.dump(), limits{});
}

} // namespace

TEST_CASE("a template request names the version and locale, and takes nested variables") {
  auto j = base();
  j["to"] = "client@exemple.fr";
  j["template"] = {{"name", "relance-devis"}, {"version", 3}, {"locale", "fr-CA"}};
  j["variables"] = {{"lignes", json::array({{{"article", "Table"}}})}, {"nom", "Hélène"}};
  auto r = parse(j);
  REQUIRE_MESSAGE(r.ok(), r.error);
  REQUIRE(r.value->tmpl);
  CHECK(r.value->tmpl->name == "relance-devis");
  CHECK(r.value->tmpl->version == 3);
  CHECK(r.value->tmpl->locale == "fr-ca");
  CHECK(r.value->variables.at("nom") == "Hélène"); // scalars also as text
  CHECK(r.value->variables.count("lignes") == 0);
  CHECK(r.value->variables_json["lignes"][0]["article"] == "Table");
  CHECK(r.value->subject.empty());
}

TEST_CASE("a template excludes inline content; inline content needs a subject and a body") {
  auto j = base();
  j["to"] = "client@exemple.fr";
  j["template"] = {{"name", "bienvenue"}};
  j["markdown"] = "x";
  CHECK(parse(j).error == "template and markdown are exclusive");
  j.erase("template");
  CHECK(parse(j).error == "missing required field: subject");
  j["subject"] = "Bonjour";
  CHECK(parse(j).ok());
  j["template"] = "bienvenue";
  CHECK(parse(j).error == "template: must be an object with \"name\" (got string)");
  j["template"] = {{"name", "Bienvenue"}};
  CHECK(parse(j).error.find("template.name: expected 1-100 of [a-z0-9_.-]") == 0);
  j["template"] = {{"name", "bienvenue"}, {"version", 0}};
  CHECK(parse(j).error.find("template.version: expected a positive integer") == 0);
  j["template"] = {{"name", "bienvenue"}, {"locale", "fr_FR"}};
  CHECK(parse(j).error.find("template.locale: expected a language tag") == 0);
}

TEST_CASE("recipients given as contacts are resolved later; contact_id alone is the recipient") {
  auto j = base();
  j["template"] = {{"name", "bienvenue"}};
  j["to"] = json::array({{{"contact", "Helene@Exemple.fr"}}, {{"contact", 42}, {"name", "Paul"}}});
  j["cc"] = "direction@acme.fr";
  auto r = parse(j);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value->to[0].contact == "Helene@Exemple.fr");
  CHECK(r.value->to[0].email.empty());
  CHECK(r.value->to[1].contact == "42");
  CHECK(r.value->to[1].display_name == "Paul");
  // Not resolved yet: only the plain address is in the envelope.
  CHECK(r.value->envelope_recipients() == std::vector<std::string>{"direction@acme.fr"});

  j = base();
  j["template"] = {{"name", "bienvenue"}};
  j["contact_id"] = 4217;
  r = parse(j);
  REQUIRE_MESSAGE(r.ok(), r.error);
  REQUIRE(r.value->to.size() == 1);
  CHECK(r.value->to[0].contact == "4217");
  CHECK(r.value->contact_id == "4217");

  j["contact_id"] = "0042";
  CHECK(parse(j).error.find("contact_id: expected an email address or a contact id") == 0);
  j.erase("contact_id");
  CHECK(parse(j).error == "no recipient: to, cc and bcc are all empty");
}

TEST_CASE("category, list and unsubscribe links are read and checked") {
  auto j = base();
  j["to"] = "client@exemple.fr";
  j["subject"] = "Soldes";
  j["text"] = "Tout à -50 %";
  j["category"] = "marketing";
  j["list"] = "newsletter";
  j["unsubscribe"] = {{"url", "https://acme.fr/u?x=1"}, {"mailto", "stop@acme.fr"}};
  auto r = parse(j);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value->category == mail_category::marketing);
  CHECK(r.value->list == "newsletter");
  REQUIRE(r.value->unsubscribe);
  CHECK(r.value->unsubscribe->url == "https://acme.fr/u?x=1");
  CHECK(r.value->unsubscribe->mailto == "stop@acme.fr");
  j["unsubscribe"] = json::object();
  CHECK(parse(j).error == "unsubscribe: expected url and/or mailto");
  j["unsubscribe"] = {{"url", "https://acme.fr/u x"}};
  CHECK(parse(j).error.find("unsubscribe.url: expected an https URL") == 0);
  j["unsubscribe"] = {{"phone", "x"}};
  CHECK(parse(j).error == "unsubscribe: unknown field: phone");
  j.erase("unsubscribe");
  j["list"] = "News Letter";
  CHECK(parse(j).error.find("list: expected 1-100 of [a-z0-9_.-]") == 0);
  j.erase("list");
  CHECK(parse(j).value->category == mail_category::marketing);
  j.erase("category");
  CHECK(parse(j).value->category == mail_category::transactional); // the default
}

} // namespace test_unit_core_content_fields_test
