// Specification of the text alternative generated from HTML.
#include <doctest/doctest.h>

#include "render/html_text.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_render_html_text_test {

using iaposte::render::html_to_text;

TEST_CASE("html_to_text: paragraphs are separated by a blank line, <br> breaks a line") {
  CHECK(html_to_text("<p>Bonjour Hélène,</p><p>Voici votre devis.<br>Bonne journée</p>") ==
        "Bonjour Hélène,\n\nVoici votre devis.\nBonne journée\n");
}

TEST_CASE("html_to_text: white space is collapsed, none at a line's start or end") {
  CHECK(html_to_text("<div>\n   Bonjour\t\t  Hélène   \n</div>\n<div>  Merci </div>") ==
        "Bonjour Hélène\nMerci\n");
}

TEST_CASE("html_to_text: entities are decoded, non-breaking spaces kept") {
  CHECK(html_to_text("<p>Caf&eacute; &amp; cr&egrave;me&nbsp;: 3&#8239;&euro; &lt;ok&gt; "
                     "&hellip;</p>") == "Café & crème\u00a0: 3\u202f€ <ok> …\n");
}

TEST_CASE("html_to_text: links show their address after the text") {
  CHECK(html_to_text("<p>Signez <a href=\"https://acme.fr/d/42\">le devis</a>.</p>") ==
        "Signez le devis <https://acme.fr/d/42>.\n");
}

TEST_CASE("html_to_text: a link whose text is its address is not repeated") {
  CHECK(html_to_text("<a href=\"mailto:contact@acme.fr\">contact@acme.fr</a> "
                     "<a href=\"https://acme.fr\">https://acme.fr</a> "
                     "<a href=\"http://www.acme.fr\">www.acme.fr</a>") ==
        "contact@acme.fr https://acme.fr www.acme.fr\n");
}

TEST_CASE("html_to_text: anchors and javascript: links show no address") {
  CHECK(
      html_to_text("<a href=\"#haut\">haut</a> <a href=\"javascript:x()\">clic</a> <a>rien</a>") ==
      "haut clic rien\n");
}

TEST_CASE("html_to_text: list items start with - and ordered ones with their number") {
  CHECK(html_to_text("<ul><li>pain</li><li>croissants<ul><li>beurre</li></ul></li></ul>"
                     "<ol start=\"3\"><li>trois</li><li>quatre</li></ol>") ==
        "- pain\n- croissants\n  - beurre\n\n3. trois\n4. quatre\n");
}

TEST_CASE("html_to_text: scripts, styles, the head and hidden content are dropped") {
  CHECK(
      html_to_text("<html><head><title>Titre</title><style>p{color:red}</style></head><body>"
                   "<div style=\"display: none; max-height:0\">préheader caché</div>"
                   "<script>alert('x')</script><p hidden>caché</p><p>Visible</p></body></html>") ==
      "Visible\n");
}

TEST_CASE("html_to_text: table rows are lines, cells separated by |") {
  CHECK(html_to_text("<table><tr><th>Produit</th><th>Prix</th></tr><tr><td>Pain</td><td>4 €</td>"
                     "</tr><tr><td></td><td>total</td></tr></table>") ==
        "Produit | Prix\nPain | 4 €\ntotal\n");
}

TEST_CASE("html_to_text: quotes are prefixed with > and pre keeps its spacing") {
  CHECK(html_to_text("<p>Vous avez écrit :</p><blockquote><p>Bonjour,</p><p>merci</p>"
                     "</blockquote><pre>  a   b\n c</pre>") ==
        "Vous avez écrit :\n\n> Bonjour,\n>\n> merci\n\n  a   b\n c\n");
}

TEST_CASE("html_to_text: images give their alt text") {
  CHECK(
      html_to_text("<p><img src=\"logo.png\" alt=\"Acme\">Bienvenue<img src=\"pixel.gif\"></p>") ==
      "Acme Bienvenue\n");
}

TEST_CASE("html_to_text: lines are wrapped near 78 columns, counting characters") {
  std::string words;
  for (int i = 0; i < 20; ++i)
    words += "été ";
  // 20 × "été " is 80 columns: the 20th word goes to the next line.
  CHECK(html_to_text("<p>" + words + "</p>") ==
        "été été été été été été été été été été été été été été été été été été été\nété\n");
  CHECK(html_to_text("<p>a " + std::string(100, 'x') + " b</p>") ==
        "a\n" + std::string(100, 'x') + "\nb\n");
  CHECK(html_to_text("<p>un deux trois</p>", 20) == "un deux trois\n");
}

TEST_CASE("html_to_text: broken or hostile markup still gives text") {
  CHECK(html_to_text("<p>ouvert <b>gras <i>sans fin") == "ouvert gras sans fin\n");
  CHECK(html_to_text("</p></div>texte<<>>") == "texte<<>>\n");
  CHECK(html_to_text("") == "");
  std::string deep;
  for (int i = 0; i < 100000; ++i)
    deep += "<div>";
  // libxml2 stops reading past 256 levels (its depth limit): the text before is kept.
  CHECK(html_to_text("<p>avant</p>" + deep + "fond") == "avant\n");
}

TEST_CASE("html_to_text: a charset declared in the document does not override UTF-8") {
  CHECK(html_to_text("<meta charset=\"iso-8859-1\"><p>Hélène</p>") == "Hélène\n");
}

TEST_CASE("html_to_text: a bare CR in <pre> or in a link target never reaches the text") {
  CHECK(html_to_text("<pre>a\rb\r\nc</pre>") == "a\nb\nc\n");
  CHECK(html_to_text("<a href=\"https://acme.fr/\r\n\tdevis\">le devis</a>") ==
        "le devis <https://acme.fr/devis>\n");
}

} // namespace test_unit_render_html_text_test
