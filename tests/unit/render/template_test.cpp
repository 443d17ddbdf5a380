// Specification of stored Mustache templates: syntax, escaping per part, strictness, limits.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include <kainjow/mustache.hpp>
#include <nlohmann/json.hpp>

#include "render/template.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_render_template_test {

using iaposte::render::compile;
using iaposte::render::partial_map;
using iaposte::render::references_partial;
using iaposte::render::render;
using iaposte::render::render_options;
using iaposte::render::render_result;
using iaposte::render::template_options;
using iaposte::render::template_parts;
using iaposte::render::validate;
using json = nlohmann::json;

namespace {

const json contact = {{"nom", "Hélène"},
                      {"entreprise", "Boulangerie Ça Roule"},
                      {"ville", "Besançon"},
                      {"articles", json::array({{{"nom", "Pain d'épices"}, {"prix", 4.5}},
                                                {{"nom", "Croissant"}, {"prix", 1}}})},
                      {"client", {{"fidele", true}, {"points", 120}}},
                      {"vide", json::array()},
                      {"rien", nullptr},
                      {"faux", false},
                      {"zero", 0},
                      {"chaine_vide", ""}};

// Renders one part (the others empty); fails the test case on an error.
std::string text_of(const std::string& tmpl, const json& vars = contact,
                    const partial_map& partials = {}, bool strict = false) {
  template_parts parts{"Sujet", tmpl, "", ""};
  auto c = compile(parts, template_options{strict});
  REQUIRE_MESSAGE(c.ok(), c.error);
  render_options opt;
  opt.derive_alternatives = false;
  auto r = render(*c.tmpl, vars, partials, opt);
  REQUIRE_MESSAGE(r.ok(), r.error);
  return r.value.text;
}

std::string html_of(const std::string& tmpl, const json& vars = contact,
                    const partial_map& partials = {}) {
  template_parts parts{"Sujet", "", tmpl, ""};
  auto c = compile(parts);
  REQUIRE_MESSAGE(c.ok(), c.error);
  render_options opt;
  opt.derive_alternatives = false;
  auto r = render(*c.tmpl, vars, partials, opt);
  REQUIRE_MESSAGE(r.ok(), r.error);
  return r.value.html;
}

render_result try_render(const template_parts& parts, const json& vars, bool strict,
                         const partial_map& partials = {}, render_options opt = {}) {
  auto c = compile(parts, template_options{strict});
  REQUIRE_MESSAGE(c.ok(), c.error);
  return render(*c.tmpl, vars, partials, opt);
}

const partial_map signature{
    {"signature",
     {"-- \nJean Dupont, {{entreprise}}", "<p class=\"sig\">Jean Dupont, {{entreprise}}</p>"}}};

} // namespace

TEST_CASE("variables are replaced, accents intact, dotted names reach into objects") {
  CHECK(text_of("Bonjour {{nom}} de {{ entreprise }} à {{ville}}, {{client.points}} points.") ==
        "Bonjour Hélène de Boulangerie Ça Roule à Besançon, 120 points.");
}

TEST_CASE("numbers and booleans are rendered as text") {
  CHECK(text_of("{{zero}} {{client.points}} {{client.fidele}} {{faux}} {{prix}}",
                json{{"zero", 0},
                     {"client", {{"points", 120}, {"fidele", true}}},
                     {"faux", false},
                     {"prix", 4.5}}) == "0 120 true false 4.5");
  CHECK(text_of("{{n}}", json{{"n", -12}}) == "-12");
  CHECK(text_of("{{n}}", json{{"n", 18446744073709551615ULL}}) == "18446744073709551615");
}

TEST_CASE("a section renders once for a true value and pushes an object's fields") {
  CHECK(text_of("{{#client}}Fidèle : {{points}} points{{/client}}") == "Fidèle : 120 points");
  CHECK(text_of("{{#client.fidele}}merci{{/client.fidele}}") == "merci");
  CHECK(text_of("{{#nom}}[{{.}}]{{/nom}}") == "[Hélène]");
}

TEST_CASE("a section renders nothing for false, null, 0, an empty string or an empty list") {
  CHECK(text_of("a{{#faux}}X{{/faux}}{{#rien}}X{{/rien}}{{#zero}}X{{/zero}}"
                "{{#chaine_vide}}X{{/chaine_vide}}{{#vide}}X{{/vide}}b") == "ab");
}

TEST_CASE("an inverted section renders only for a false, empty or absent value") {
  CHECK(text_of("{{^vide}}aucun article{{/vide}}") == "aucun article");
  CHECK(text_of("{{^absent}}particulier{{/absent}}") == "particulier");
  CHECK(text_of("{{^faux}}oui{{/faux}}{{^nom}}non{{/nom}}{{^articles}}non{{/articles}}") == "oui");
}

TEST_CASE("a section over a list renders once per item, the item's fields first") {
  CHECK(text_of("{{#articles}}- {{nom}} : {{prix}} €\n{{/articles}}") ==
        "- Pain d'épices : 4.5 €\n- Croissant : 1 €\n");
  // Names not found in the item come from the enclosing contexts.
  CHECK(text_of("{{#articles}}{{ville}};{{/articles}}") == "Besançon;Besançon;");
  CHECK(text_of("{{#l}}{{.}},{{/l}}", json{{"l", {"a", "b", 3}}}) == "a,b,3,");
}

TEST_CASE("nested loops see every enclosing item") {
  json v = {{"cmd", {{{"id", 1}, {"l", {"x", "y"}}}, {{"id", 2}, {"l", {"z"}}}}}};
  CHECK(text_of("{{#cmd}}{{#l}}{{id}}{{.}} {{/l}}{{/cmd}}", v) == "1x 1y 2z ");
}

TEST_CASE("a dotted name whose first part is found but not the rest is missing") {
  // Mustache spec: no fallback to an outer context for the remaining parts.
  json v = {{"a", {{"b", "outer"}}}, {"l", {{{"a", {{"c", 1}}}}}}};
  CHECK(text_of("{{#l}}[{{a.b}}]{{/l}}", v) == "[]");
}

TEST_CASE("variables are searched through the layers in order, without merging them") {
  template_parts parts{"{{nom}}", "{{nom}} {{entreprise}} {{ville}}", "", ""};
  auto c = compile(parts);
  REQUIRE(c.ok());
  json request = {{"nom", "Hélène (requête)"}};
  json fiche = {{"nom", "Hélène"}, {"entreprise", "Dubois SARL"}};
  const json* layers[] = {&request, &fiche};
  auto r = render(*c.tmpl, layers);
  REQUIRE(r.ok());
  CHECK(r.value.text == "Hélène (requête) Dubois SARL ");
}

TEST_CASE("standalone section and comment lines leave no blank line in text") {
  CHECK(text_of("Bonjour,\n{{#faux}}\nligne cachée\n{{/faux}}\n{{! note interne }}\nMerci\n") ==
        "Bonjour,\nMerci\n");
  CHECK(text_of("Articles :\n{{#articles}}\n  - {{nom}}\n{{/articles}}\nFin") ==
        "Articles :\n  - Pain d'épices\n  - Croissant\nFin");
  // Not standalone: text beside the tag keeps the line.
  CHECK(text_of("a {{#faux}}x{{/faux}}\nb") == "a \nb");
}

TEST_CASE("kainjow's own renderer keeps the blank line of a false standalone section") {
  // Why we render kainjow's tree ourselves: its renderer departs from the spec here.
  kainjow::mustache::mustache m("a\n{{#no}}\nb\n{{/no}}\nc\n");
  CHECK(m.render(kainjow::mustache::data{}) == "a\n\nc\n");
  CHECK(text_of("a\n{{#no}}\nb\n{{/no}}\nc\n") == "a\nc\n");
}

TEST_CASE("kainjow's own renderer says nothing of a missing name and renders booleans empty") {
  kainjow::mustache::data d;
  d["oui"] = true;
  kainjow::mustache::mustache m("[{{absent}}][{{oui}}]");
  CHECK(m.render(d) == "[][]");
  CHECK(m.is_valid());
}

TEST_CASE("set-delimiter tags are understood") {
  CHECK(text_of("{{=<% %>=}}Bonjour <%nom%> {{nom}}") == "Bonjour Hélène {{nom}}");
}

TEST_CASE("the html part escapes {{x}} and leaves {{{x}}} and {{& x}} raw") {
  json v = {{"nom", "<b>Hélène</b> & \"Cie\" l'été"}};
  CHECK(html_of("<p>{{nom}}</p>", v) ==
        "<p>&lt;b&gt;Hélène&lt;/b&gt; &amp; &quot;Cie&quot; l&#39;été</p>");
  CHECK(html_of("<p>{{{nom}}}|{{& nom}}</p>", v) ==
        "<p><b>Hélène</b> & \"Cie\" l'été|<b>Hélène</b> & \"Cie\" l'été</p>");
}

TEST_CASE("the subject and text parts never escape") {
  json v = {{"nom", "<Hélène> & Cie"}};
  auto r = try_render({"Devis pour {{nom}}", "Bonjour {{nom}}", "<p>{{nom}}</p>", ""}, v, false);
  REQUIRE(r.ok());
  CHECK(r.value.subject == "Devis pour <Hélène> & Cie");
  CHECK(r.value.text == "Bonjour <Hélène> & Cie");
  CHECK(r.value.html == "<p>&lt;Hélène&gt; &amp; Cie</p>");
}

TEST_CASE("a value cannot inject markup into the markdown part") {
  json v = {{"nom", "**gras** <script>alert(1)</script> [lien](https://evil.example) # titre"},
            {"ligne", "x\n\n# Titre\n    code"}};
  auto r = try_render({"S", "", "", "Bonjour {{nom}}\n\n{{ligne}}"}, v, false);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value.html ==
        "<p>Bonjour **gras** &lt;script&gt;alert(1)&lt;/script&gt; [lien](https://evil.example) "
        "# titre</p>\n<p>x  # Titre     code</p>\n");
  CHECK(r.value.html.find("<strong>") == std::string::npos);
  CHECK(r.value.html.find("<a ") == std::string::npos);
}

TEST_CASE("a value stays literal inside a raw HTML block when the tenant allows raw HTML") {
  json v = {{"nom", "<script>alert(1)</script>"}};
  render_options opt;
  opt.allow_raw_html = true;
  auto r = try_render({"S", "", "", "<div class=\"carte\">\n{{nom}}\n</div>"}, v, false, {}, opt);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value.html.find("<div class=\"carte\">") != std::string::npos);
  CHECK(r.value.html.find("<script") == std::string::npos);
}

TEST_CASE("{{{x}}} in the markdown part is raw Markdown, for trusted values") {
  json v = {{"gras", "**important**"}};
  auto r = try_render({"S", "", "", "{{{gras}}} {{gras}}"}, v, false);
  REQUIRE(r.ok());
  CHECK(r.value.html.starts_with("<p><strong>important</strong> **important**"));
}

TEST_CASE("lenient mode renders a missing variable, section or partial as nothing") {
  auto r =
      try_render({"Bonjour {{prenom}}", "{{#commandes}}x{{/commandes}}{{> signature}}fin", "", ""},
                 contact, false);
  REQUIRE(r.ok());
  CHECK(r.value.subject == "Bonjour ");
  CHECK(r.value.text == "fin");
}

TEST_CASE("strict mode names the missing variable, its part and its place") {
  auto r = try_render({"Sujet", "", "<p>Bonjour\n  {{nom}}, de {{entreprise}}</p>", ""},
                      json{{"entreprise", "Acme"}}, true);
  CHECK(r.error == "unresolved variable: {{nom}} in html at line 2, column 3");
  CHECK(r.value.html.empty());
}

TEST_CASE("strict mode refuses a missing section name but accepts a missing inverted one") {
  auto r = try_render({"S", "{{#articles}}x{{/articles}}", "", ""}, json::object(), true);
  CHECK(r.error == "unresolved variable: {{#articles}} in text at line 1, column 1");
  auto ok =
      try_render({"S", "{{^entreprise}}particulier{{/entreprise}}", "", ""}, json::object(), true);
  REQUIRE(ok.ok());
  CHECK(ok.value.text == "particulier");
}

TEST_CASE("strict mode accepts a name given as null, false or empty") {
  auto r = try_render({"S", "[{{a}}{{b}}{{c}}]{{#a}}x{{/a}}", "", ""},
                      json{{"a", nullptr}, {"b", false}, {"c", ""}}, true);
  REQUIRE(r.ok());
  CHECK(r.value.text == "[false]");
}

TEST_CASE("strict mode refuses a list or an object where a value is expected") {
  auto r = try_render({"S", "{{articles}}", "", ""}, contact, true);
  CHECK(r.error == "variable {{articles}} in text at line 1, column 1 is a list, not a value");
  CHECK(text_of("[{{articles}}]") == "[]");
}

TEST_CASE("a missing partial is an error in strict mode") {
  auto r = try_render({"S", "Cordialement,\n{{> signature}}", "", ""}, contact, true);
  CHECK(r.error == "unresolved partial: {{> signature}} in text at line 2, column 1");
}

TEST_CASE("a partial uses its text version in text and its html version in html") {
  auto r =
      try_render({"S", "Cordialement,\n{{> signature}}\n", "<p>Cordialement</p>{{>signature}}", ""},
                 contact, true, signature);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value.text == "Cordialement,\n-- \nJean Dupont, Boulangerie Ça Roule\n");
  CHECK(r.value.html ==
        "<p>Cordialement</p><p class=\"sig\">Jean Dupont, Boulangerie Ça Roule</p>");
}

TEST_CASE("a partial inside a section sees the section's item") {
  partial_map p{{"ligne", {"{{nom}} ({{prix}} €)", "<li>{{nom}}</li>"}}};
  CHECK(text_of("{{#articles}}{{> ligne}};{{/articles}}", contact, p) ==
        "Pain d'épices (4.5 €);Croissant (1 €);");
  CHECK(html_of("<ul>{{#articles}}{{> ligne}}{{/articles}}</ul>", contact, p) ==
        "<ul><li>Pain d&#39;épices</li><li>Croissant</li></ul>");
}

TEST_CASE("a standalone partial is indented line by line, as the spec says") {
  partial_map p{{"adresse", {"12 rue des Lilas\n25000 Besançon\n", ""}}};
  CHECK(text_of("Adresse :\n  {{> adresse}}\nFin", contact, p) ==
        "Adresse :\n  12 rue des Lilas\n  25000 Besançon\nFin");
}

TEST_CASE("a partial in the markdown part is shown as plain text, line breaks kept") {
  partial_map p{{"signature", {"-- \nJean *Dupont*\n# pas un titre", "<b>ignored</b>"}}};
  auto r = try_render({"S", "", "", "Merci.\n\n{{> signature}}"}, contact, false, p);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value.html == "<p>Merci.</p>\n<p>-- <br />\nJean *Dupont*<br />\n# pas un titre</p>\n");
}

TEST_CASE("a partial that includes itself is stopped with an error") {
  partial_map p{{"boucle", {"x{{> boucle}}", "x"}}};
  auto r = try_render({"S", "{{> boucle}}", "", ""}, contact, false, p);
  CHECK(r.error.starts_with("partials nested deeper than 8 in partial \"boucle\" (text)"));
}

TEST_CASE("a partial with a syntax error is an error naming the partial") {
  partial_map p{{"signature", {"{{#x}}", "ok"}}};
  auto r = try_render({"S", "{{> signature}}", "", ""}, contact, false, p);
  CHECK(r.error == "partial \"signature\" (text): unclosed section \"x\" at line 1, column 1");
}

TEST_CASE("references_partial tells whether the template places the signature") {
  auto with = compile({"S", "Merci\n{{#x}}{{> signature}}{{/x}}", "", ""});
  auto without = compile({"S", "Merci", "<p>{{> pied}}</p>", ""});
  REQUIRE((with.ok() && without.ok()));
  CHECK(references_partial(*with.tmpl, "signature"));
  CHECK_FALSE(references_partial(*without.tmpl, "signature"));
  CHECK(references_partial(*without.tmpl, "pied"));
}

TEST_CASE("validate accepts a good version") {
  CHECK(validate({"Bonjour {{nom}}", "Bonjour {{nom}}", "<p>{{#a}}{{b}}{{/a}}</p>", ""}) == "");
}

TEST_CASE("validate reports an unclosed section with its part and place") {
  CHECK(validate({"S", "", "<ul>\n  {{#items}}<li>{{nom}}</li>\n</ul>", ""}) ==
        "html: unclosed section \"items\" at line 2, column 3");
}

TEST_CASE("validate reports a section closed by the wrong name") {
  CHECK(validate({"S", "{{#a}}x{{/b}}", "", ""}) ==
        "text: unclosed section \"a\" at line 1, column 1");
}

TEST_CASE("validate reports a closing tag without its opening") {
  CHECK(validate({"S", "ok\nfin {{/articles}}", "", ""}) ==
        "text: unopened section \"articles\" at line 2, column 5");
}

TEST_CASE("validate reports an unclosed tag, quoting it") {
  CHECK(validate({"S", "", "", "Bonjour {{nom, à bientôt"}) ==
        "markdown: unclosed tag at line 1, column 9 (\"{{nom, à bientôt\")");
}

TEST_CASE("validate reports a bad set-delimiter tag") {
  CHECK(validate({"S", "{{=<%>=}}", "", ""}) ==
        "text: invalid set delimiter tag at line 1, column 1 (\"{{=<%>=}}\")");
}

TEST_CASE("validate reports empty tags and names with spaces") {
  CHECK(validate({"S", "a {{ }} b", "", ""}) == "text: empty tag at line 1, column 3");
  CHECK(validate({"S", "{{#}}{{/}}", "", ""}) == "text: empty tag at line 1, column 1");
  CHECK(validate({"S", "{{nom prénom}}", "", ""}) ==
        "text: invalid name \"nom prénom\" at line 1, column 1");
  CHECK(validate({"S", "{{a..b}}", "", ""}) == "text: invalid name \"a..b\" at line 1, column 1");
}

TEST_CASE("validate requires a subject and a body") {
  CHECK(validate({"", "texte", "", ""}) == "subject: required");
  CHECK(validate({"  ", "texte", "", ""}) == "subject: required");
  CHECK(validate({"Sujet", "", "", ""}) == "no body: give a text, html or markdown part");
}

TEST_CASE("validate refuses a line break written in the subject") {
  CHECK(validate({"Bonjour\n{{nom}}", "x", "", ""}) ==
        "subject: line break in the subject template at line 1, column 8");
  CHECK(validate({"Bonjour {{! une\nnote }}{{nom}}", "x", "", ""}) == "");
}

TEST_CASE("validate refuses sections nested too deep before parsing them") {
  std::string deep;
  for (int i = 0; i < 65; ++i)
    deep += "{{#a}}";
  CHECK(validate({"S", deep, "", ""}) ==
        "text: sections nested deeper than 64 at line 1, column 385");
  std::string ok;
  for (int i = 0; i < 64; ++i)
    ok = "{{#a}}" + ok + "{{/a}}";
  CHECK(validate({"S", ok, "", ""}) == "");
  // A million of them is refused just as fast, without exhausting the stack.
  std::string huge;
  for (int i = 0; i < 40000; ++i)
    huge += "{{#a}}";
  CHECK(validate({"S", huge, "", ""}).starts_with("text: sections nested deeper than 64"));
}

TEST_CASE("validate refuses a part larger than the limit") {
  CHECK(validate({"S", std::string(iaposte::render::max_part_bytes + 1, 'x'), "", ""}) ==
        "text: template is larger than 262144 bytes");
}

TEST_CASE("a value that puts a line break in the subject is refused at render time") {
  auto r =
      try_render({"Devis {{nom}}", "x", "", ""}, json{{"nom", "Hélène\r\nBcc: x@y.fr"}}, false);
  CHECK(r.error == "subject: {{nom}} puts a line break in the subject");
  CHECK(r.value.subject.empty());
  partial_map p{{"p", {"a\nb", ""}}};
  auto r2 = try_render({"Devis {{> p}}", "x", "", ""}, contact, false, p);
  CHECK(r2.error == "subject: line break in the rendered subject");
}

TEST_CASE("output beyond max_bytes is an error, found before the memory is used") {
  json v;
  v["l"] = json::array();
  for (int i = 0; i < 100; ++i)
    v["l"].push_back(i);
  // 100^4 = 10^8 iterations of 10 bytes: a gigabyte if nothing stopped it.
  render_options opt;
  opt.max_bytes = 100000;
  auto r = try_render({"S", "{{#l}}{{#l}}{{#l}}{{#l}}0123456789{{/l}}{{/l}}{{/l}}{{/l}}", "", ""},
                      v, false, {}, opt);
  CHECK(r.error == "rendered output exceeds 100000 bytes");
  CHECK(r.value.text.empty());
}

TEST_CASE("a loop nest that renders nothing still ends, on the step bound") {
  json v;
  v["l"] = json::array();
  for (int i = 0; i < 1000; ++i)
    v["l"].push_back(i);
  auto r = try_render({"S", "{{#l}}{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}{{/l}}", "", ""}, v, false);
  CHECK(r.error == "template does too much work (more than 4194304 steps)");
}

TEST_CASE("derived alternatives count against max_bytes too") {
  render_options opt;
  opt.max_bytes = 40;
  auto r =
      try_render({"S", "", "<p>0123456789 0123456789</p>", ""}, json::object(), false, {}, opt);
  CHECK(r.error == "rendered output exceeds 40 bytes");
}

TEST_CASE("variables that are not an object are an error, null means none") {
  auto c = compile({"S", "x{{a}}", "", ""});
  REQUIRE(c.ok());
  CHECK(render(*c.tmpl, json::array()).error == "variables must be a JSON object, not array");
  auto r = render(*c.tmpl, json());
  REQUIRE(r.ok());
  CHECK(r.value.text == "x");
}

TEST_CASE("an html-only version gets a generated text alternative") {
  auto r = try_render({"S", "",
                       "<p>Bonjour {{nom}},</p><p>Votre <a href=\"https://acme.fr/d/1\">"
                       "devis</a>.</p>",
                       ""},
                      contact, false);
  REQUIRE(r.ok());
  CHECK(r.value.text == "Bonjour Hélène,\n\nVotre devis <https://acme.fr/d/1>.\n");
}

TEST_CASE("a markdown version gives the html and the text, explicit parts win") {
  auto r = try_render({"S", "", "", "Bonjour **{{nom}}**"}, contact, false);
  REQUIRE(r.ok());
  CHECK(r.value.html == "<p>Bonjour <strong>Hélène</strong></p>\n");
  CHECK(r.value.text == "Bonjour Hélène\n");
  auto both = try_render({"S", "Texte à part", "", "Bonjour **{{nom}}**"}, contact, false);
  REQUIRE(both.ok());
  CHECK(both.value.text == "Texte à part");
  CHECK(both.value.html == "<p>Bonjour <strong>Hélène</strong></p>\n");
}

TEST_CASE("one compiled template renders from several threads at once") {
  auto c = compile(
      {"Devis {{n}}", "{{#l}}{{.}},{{/l}}{{> signature}}", "<p>{{n}}</p>{{> signature}}", ""});
  REQUIRE(c.ok());
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        json v = {{"n", t * 1000 + i}, {"l", {t, i}}, {"entreprise", "Acme"}};
        auto r = render(*c.tmpl, v, signature);
        std::string want = std::to_string(t) + "," + std::to_string(i) + ",-- \nJean Dupont, Acme";
        if (!r.ok() || r.value.text != want ||
            r.value.subject != "Devis " + std::to_string(t * 1000 + i))
          ++failures[t];
      }
    });
  for (auto& th : threads)
    th.join();
  CHECK(failures == std::vector<int>(4, 0));
}

} // namespace test_unit_render_template_test
