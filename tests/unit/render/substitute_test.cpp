// Specification of placeholder substitution.
#include <doctest/doctest.h>

#include "render/render.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_render_substitute_test {

using iaposte::render::escape_html;
using iaposte::render::substitute;
using iaposte::render::substitute_html;

namespace {

const std::map<std::string, std::string> vars{
    {"nom", "Hélène"},  {"entreprise", "Boulangerie Ça Roule"},
    {"order.id", "42"}, {"x-y", "xy"},
    {"empty", ""},      {"_u", "u"}};

std::string sub(std::string_view t) {
  std::vector<std::string> missing;
  auto out = substitute(t, vars, missing);
  CHECK_MESSAGE(missing.empty(), "unexpected missing names in: " << t);
  return out;
}

} // namespace

TEST_CASE("names are replaced by their values, accented values intact") {
  CHECK(sub("Bonjour {nom}, voici le devis pour {entreprise}.") ==
        "Bonjour Hélène, voici le devis pour Boulangerie Ça Roule.");
  CHECK(sub("Commande {order.id} ({x-y}) {_u}") == "Commande 42 (xy) u");
  CHECK(sub("[{empty}]") == "[]");
}

TEST_CASE("adjacent placeholders, and placeholders at both ends") {
  CHECK(sub("{nom}{entreprise}") == "HélèneBoulangerie Ça Roule");
  CHECK(sub("{nom}") == "Hélène");
  CHECK(sub("{order.id}{order.id}{order.id}") == "424242");
}

TEST_CASE("{{ and }} are literal braces") {
  CHECK(sub("{{nom}}") == "{nom}");
  CHECK(sub("{{{nom}}}") == "{Hélène}");
  CHECK(sub("a {{ b }} c") == "a { b } c");
}

TEST_CASE("other braces are kept: CSS, JSON-looking text, stray ones") {
  CHECK(sub("body { color: red }") == "body { color: red }");
  CHECK(sub("p{margin:0} .x { }") == "p{margin:0} .x { }");
  CHECK(sub("{\"a\": 1}") == "{\"a\": 1}");
  CHECK(sub("{ nom}") == "{ nom}");
  CHECK(sub("{nom") == "{nom");
  CHECK(sub("nom}") == "nom}");
  CHECK(sub("{1abc}") == "{1abc}");
  CHECK(sub("{}") == "{}");
  CHECK(sub("{") == "{");
  CHECK(sub("}") == "}");
  CHECK(sub("{nom }") == "{nom }");
}

TEST_CASE("the empty template gives the empty string") {
  CHECK(sub("") == "");
}

TEST_CASE("unknown names are left in place and reported once each") {
  std::vector<std::string> missing;
  auto out = substitute("{prenom} {nom} {prenom} {ville}", vars, missing);
  CHECK(out == "{prenom} Hélène {prenom} {ville}");
  CHECK(missing == std::vector<std::string>{"prenom", "ville"});
  // Across calls too (subject, then text, then html).
  substitute("{ville} {pays}", vars, missing);
  CHECK(missing == std::vector<std::string>{"prenom", "ville", "pays"});
}

TEST_CASE("values are inserted as is: no recursive expansion") {
  std::map<std::string, std::string> v{{"a", "{b}"}, {"b", "B"}};
  std::vector<std::string> missing;
  CHECK(substitute("{a}", v, missing) == "{b}");
  CHECK(missing.empty());
}

TEST_CASE("substitute_html escapes the values, not the template") {
  std::map<std::string, std::string> v{{"nom", "<script>alert('x')</script> & \"co\""}};
  std::vector<std::string> missing;
  CHECK(substitute_html("<p class=\"a\">{nom}</p>", v, missing) ==
        "<p class=\"a\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;</p>");
  CHECK(escape_html("Hélène & Cie") == "Hélène &amp; Cie");
}

} // namespace test_unit_render_substitute_test
