// Markdown (CommonMark + GitHub tables, autolinks, strikethrough) to HTML and to plain text.
#pragma once

#include <string>
#include <string_view>

namespace iaposte::render {

// HTML of a Markdown document (cmark-gfm; table, autolink and strikethrough extensions).
// Raw HTML and dangerous link schemes (javascript:, vbscript:, file:, data: outside images)
// are left out unless `allow_raw_html`; when allowed, GitHub's tag filter still neutralises
// <script>, <style>, <iframe> and the like. Invalid UTF-8 becomes U+FFFD. Never throws.
std::string markdown_to_html(std::string_view markdown, bool allow_raw_html = false);

// Readable plain text of the same document, for the text/plain alternative: the HTML above
// through html_to_text (links as `text <url>`, list items as `- `, lines near 78 columns).
std::string markdown_to_text(std::string_view markdown, bool allow_raw_html = false);

// Makes a value literal text in Markdown source: a backslash before every ASCII punctuation
// character (CommonMark §2.4 allows it before any of them) and line breaks turned into
// spaces, so that no value can open a heading, a list, a link, a table cell or raw HTML.
std::string escape_markdown(std::string_view value);

} // namespace iaposte::render
