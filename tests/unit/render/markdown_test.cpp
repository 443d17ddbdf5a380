// Specification of Markdown to HTML and to text (cmark-gfm with GitHub's extensions).
#include <doctest/doctest.h>

#include "render/markdown.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_render_markdown_test {

using iaposte::render::escape_markdown;
using iaposte::render::markdown_to_html;
using iaposte::render::markdown_to_text;

TEST_CASE("markdown: emphasis, headings and lists become HTML") {
  CHECK(markdown_to_html("# Devis\n\nBonjour **Hélène**, voici *votre* devis :\n\n- pain\n- "
                         "croissants\n") ==
        "<h1>Devis</h1>\n<p>Bonjour <strong>Hélène</strong>, voici <em>votre</em> devis :</p>\n"
        "<ul>\n<li>pain</li>\n<li>croissants</li>\n</ul>\n");
}

TEST_CASE("markdown: tables are on, with their alignment") {
  CHECK(markdown_to_html("| Produit | Prix |\n|---|--:|\n| Pain d'épices | 4,50 € |\n") ==
        "<table>\n<thead>\n<tr>\n<th>Produit</th>\n<th align=\"right\">Prix</th>\n</tr>\n"
        "</thead>\n<tbody>\n<tr>\n<td>Pain d'épices</td>\n<td align=\"right\">4,50 €</td>\n"
        "</tr>\n</tbody>\n</table>\n");
}

TEST_CASE("markdown: bare web addresses and email addresses become links") {
  CHECK(markdown_to_html("Voir www.acme.fr, https://acme.fr/devis?id=3 ou contact@acme.fr") ==
        "<p>Voir <a href=\"http://www.acme.fr\">www.acme.fr</a>, <a "
        "href=\"https://acme.fr/devis?id=3\">https://acme.fr/devis?id=3</a> ou <a "
        "href=\"mailto:contact@acme.fr\">contact@acme.fr</a></p>\n");
}

TEST_CASE("markdown: strikethrough is on") {
  CHECK(markdown_to_html("~~12 €~~ 9 €") == "<p><del>12 €</del> 9 €</p>\n");
}

TEST_CASE("markdown: raw HTML is left out unless allowed") {
  const char* md = "<div onclick=\"x()\">bloc</div>\n\nBonjour <b>Hélène</b> <img src=x "
                   "onerror=alert(1)>";
  CHECK(markdown_to_html(md) == "<!-- raw HTML omitted -->\n<p>Bonjour <!-- raw HTML omitted "
                                "-->Hélène<!-- raw HTML omitted --> <!-- raw HTML omitted "
                                "--></p>\n");
  CHECK(markdown_to_html(md, true) == "<div onclick=\"x()\">bloc</div>\n<p>Bonjour "
                                      "<b>Hélène</b> <img src=x onerror=alert(1)></p>\n");
}

TEST_CASE("markdown: <script> never runs, even with raw HTML allowed (GitHub's tag filter)") {
  CHECK(markdown_to_html("<script>alert(1)</script>") == "<!-- raw HTML omitted -->\n");
  CHECK(markdown_to_html("<script>alert(1)</script>", true) == "&lt;script>alert(1)&lt;/script>\n");
  CHECK(markdown_to_html("x <style>p{}</style> <iframe src=x>", true) ==
        "<p>x &lt;style>p{}&lt;/style> &lt;iframe src=x></p>\n");
}

TEST_CASE("markdown: javascript: links lose their target unless raw HTML is allowed") {
  CHECK(markdown_to_html("[clic](javascript:alert(1))") == "<p><a href=\"\">clic</a></p>\n");
  CHECK(markdown_to_html("[clic](javascript:alert(1))", true) ==
        "<p><a href=\"javascript:alert(1)\">clic</a></p>\n");
}

TEST_CASE("markdown: invalid UTF-8 becomes U+FFFD") {
  CHECK(markdown_to_html("caf\xe9") == "<p>caf\xef\xbf\xbd</p>\n");
}

TEST_CASE("markdown: the text alternative shows links as text <url> and lists with -") {
  CHECK(markdown_to_text("# Votre devis\n\nBonjour **Hélène**,\n\n- pain\n- [conditions](https://"
                         "acme.fr/cgv)\n\n1. signer\n2. renvoyer\n\n> À bientôt\n") ==
        "Votre devis\n\nBonjour Hélène,\n\n- pain\n- conditions <https://acme.fr/cgv>\n\n"
        "1. signer\n2. renvoyer\n\n> À bientôt\n");
}

TEST_CASE("markdown: an autolink is not repeated in the text alternative") {
  CHECK(markdown_to_text("Voir www.acme.fr ou https://acme.fr/a, écrire à contact@acme.fr") ==
        "Voir www.acme.fr ou https://acme.fr/a, écrire à contact@acme.fr\n");
}

TEST_CASE("markdown: a table in the text alternative has one row per line") {
  CHECK(markdown_to_text("| Produit | Prix |\n|---|--:|\n| Pain | 4,50 € |\n| Croissant | 1 € |") ==
        "Produit | Prix\nPain | 4,50 €\nCroissant | 1 €\n");
}

TEST_CASE("escape_markdown writes punctuation as character references and drops line breaks") {
  CHECK(escape_markdown("Hélène *Dubois*") == "Hélène &#42;Dubois&#42;");
  CHECK(escape_markdown("a\r\nb\nc") == "a b c");
  CHECK(escape_markdown("  # x") == "&#32;&#32;&#35; x");
  // Line breaks at the start are blanks too: they must not indent a code block.
  CHECK(escape_markdown("\r\n\n\r    (x") == "&#32;&#32;&#32;&#32;&#32;&#32;&#32;&#40;x");
  CHECK(escape_markdown("") == "");
}

TEST_CASE("escape_markdown: the value comes back exactly as text") {
  const std::string value = "**x** _y_ `z` [l](u) <b>&amp; # 1. | ~~s~~ \\ !";
  CHECK(markdown_to_html(escape_markdown(value)) ==
        "<p>**x** _y_ `z` [l](u) &lt;b&gt;&amp;amp; # 1. | ~~s~~ \\ !</p>\n");
  CHECK(markdown_to_text(escape_markdown(value)) == value + "\n");
}

TEST_CASE("escape_markdown: a value cannot break out of a table cell") {
  std::string md = "| Nom | Ville |\n|---|---|\n| " + escape_markdown("Hélène | <b>x</b>\n| y") +
                   " | Besançon |\n";
  CHECK(markdown_to_html(md).find(
            "<td>Hélène | &lt;b&gt;x&lt;/b&gt; | y</td>\n<td>Besançon</td>") != std::string::npos);
}

TEST_CASE("escape_markdown: an email address in a value still becomes a mailto link") {
  // cmark-gfm's autolink extension links addresses in any text, after escapes are read: the
  // link shows the address itself, so a value cannot hide a target behind other words.
  CHECK(markdown_to_html(escape_markdown("Écrire à helene@exemple.fr")) ==
        "<p>Écrire à <a href=\"mailto:helene@exemple.fr\">helene@exemple.fr</a></p>\n");
  CHECK(markdown_to_html(escape_markdown("voir https://exemple.fr ou www.exemple.fr")) ==
        "<p>voir https://exemple.fr ou www.exemple.fr</p>\n");
}

} // namespace test_unit_render_markdown_test
