// A readable text/plain alternative generated from HTML content.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace iaposte::render {

// Text of an HTML document or fragment, parsed by libxml2's forgiving HTML parser: paragraphs
// and blocks separated by blank lines, <br> as a line break, list items as `- ` (`1. ` in an
// ordered list), links as `text <url>`, images by their alt text, entities decoded,
// <head>/<script>/<style> dropped, white space collapsed outside <pre>, quotes prefixed `> `,
// and lines wrapped near `width` columns (a word longer than that is never cut). Never
// throws; any input gives some text.
std::string html_to_text(std::string_view html, std::size_t width = 78);

} // namespace iaposte::render
