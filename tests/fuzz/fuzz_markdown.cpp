// libFuzzer target for Markdown and HTML to text (lib/render/markdown.hpp, html_text.hpp):
// arbitrary bytes as Markdown, as HTML, and as a value escaped into Markdown.
//
// Checked beyond "no crash, no sanitizer report, no exception":
//  - with raw HTML off, no "<script" (any case) survives into the HTML; with raw HTML on,
//    GitHub's tag filter still leaves no script tag ("<script" then a blank, '/' or '>': a
//    browser reads "<script~x" as a tag of another name);
//  - a value escaped with escape_markdown renders to no tag at all but its paragraph and the
//    mailto: links the autolink extension makes of email addresses in any text: it cannot
//    inject markup, raw HTML allowed or not;
//  - html_to_text and markdown_to_text end every line with LF alone and never hold NUL.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <libxml/HTMLparser.h>

#include "render/html_text.hpp"
#include "render/markdown.hpp"

using namespace iaposte::render;

namespace {

[[noreturn]] void broken(const char* what, std::string_view detail) {
  std::fprintf(stderr, "property broken: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

bool has_script(std::string_view html, bool tag_only) {
  std::string lower(html);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::size_t at = lower.find("<script"); at != std::string::npos;
       at = lower.find("<script", at + 1)) {
    if (!tag_only) return true;
    std::size_t next = at + 7;
    if (next < lower.size() &&
        std::string_view(" \t\n\r\f/>").find(lower[next]) != std::string_view::npos)
      return true;
  }
  return false;
}

// Whether an HTML parser (libxml2's, as lenient as a browser's) finds a <script> element: with
// raw HTML allowed, "<script" may stand inside an attribute value, which is only text.
bool has_script_element(xmlNode* n) {
  for (; n; n = n->next) {
    if (n->type == XML_ELEMENT_NODE && n->name &&
        xmlStrcasecmp(n->name, reinterpret_cast<const xmlChar*>("script")) == 0)
      return true;
    if (has_script_element(n->children)) return true;
  }
  return false;
}

bool parses_to_script(const std::string& html) {
  if (!has_script(html, true)) return false; // the parser only to confirm a textual hit
  htmlDocPtr doc = htmlReadMemory(html.data(), static_cast<int>(html.size()), nullptr, "UTF-8",
                                  HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                      HTML_PARSE_NONET);
  if (!doc) return false;
  const bool found = has_script_element(xmlDocGetRootElement(doc));
  xmlFreeDoc(doc);
  return found;
}

void check_text(const char* what, const std::string& text) {
  if (text.find('\0') != std::string::npos) broken(what, "NUL in text");
  if (text.find('\r') != std::string::npos) broken(what, "CR in text");
}

// The HTML of an escaped value: nothing but <p>, </p> and an email autolink may be a tag.
void check_inert(const std::string& html) {
  std::string rest;
  for (std::size_t i = 0; i < html.size();) {
    if (html.compare(i, 3, "<p>") == 0) {
      i += 3;
    } else if (html.compare(i, 4, "</p>") == 0) {
      i += 4;
    } else if (html.compare(i, 4, "</a>") == 0) {
      i += 4;
    } else if (html.compare(i, 16, "<a href=\"mailto:") == 0) {
      std::size_t end = html.find("\">", i + 16);
      if (end == std::string::npos) broken("unterminated autolink", html);
      std::string_view href(html.data() + i + 16, end - i - 16);
      if (href.find_first_of("<>\"") != std::string_view::npos) broken("odd autolink", html);
      i = end + 2;
    } else {
      rest += html[i++];
    }
  }
  if (rest.find('<') != std::string::npos) broken("escaped value made markup", html);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    std::string safe = markdown_to_html(in, false);
    if (has_script(safe, false)) broken("<script with raw HTML off", safe);
    std::string raw = markdown_to_html(in, true);
    if (parses_to_script(raw)) broken("<script> element with raw HTML on", raw);
    check_text("markdown_to_text", markdown_to_text(in, false));
    check_text("html_to_text", html_to_text(in));
    check_text("html_to_text (narrow)", html_to_text(in, 20));

    std::string_view value = in.substr(0, 2048);
    std::string escaped = escape_markdown(value);
    check_inert(markdown_to_html(escaped, false));
    check_inert(markdown_to_html(escaped, true));
  } catch (const std::exception& e) {
    broken("exception", e.what());
  }
  return 0;
}
