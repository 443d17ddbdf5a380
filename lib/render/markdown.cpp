// Markdown to HTML with cmark-gfm and its GitHub extensions; Markdown escaping of values.
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>

#include "render/html_text.hpp"
#include "render/markdown.hpp"

namespace iaposte::render {
namespace {

// cmark-gfm keeps its extension registry in a global list: fill it once, before any thread
// parses.
void register_extensions() {
  static std::once_flag once;
  std::call_once(once, [] { cmark_gfm_core_extensions_ensure_registered(); });
}

std::mutex parse_mutex;

struct parser_deleter {
  void operator()(cmark_parser* p) const { cmark_parser_free(p); }
};
struct node_deleter {
  void operator()(cmark_node* n) const { cmark_node_free(n); }
};

bool attach(cmark_parser* parser, const char* name) {
  cmark_syntax_extension* ext = cmark_find_syntax_extension(name);
  return ext != nullptr && cmark_parser_attach_syntax_extension(parser, ext) != 0;
}

} // namespace

std::string markdown_to_html(std::string_view markdown, bool allow_raw_html) {
  try {
    register_extensions();
    // Without CMARK_OPT_UNSAFE, raw HTML becomes "<!-- raw HTML omitted -->" and links to
    // javascript:, vbscript:, file: and non-image data: get an empty destination.
    int options = CMARK_OPT_VALIDATE_UTF8;
    if (allow_raw_html) options |= CMARK_OPT_UNSAFE;
    std::unique_ptr<cmark_parser, parser_deleter> parser(cmark_parser_new(options));
    if (!parser) return {};
    attach(parser.get(), "table");
    attach(parser.get(), "autolink");
    attach(parser.get(), "strikethrough");
    // GitHub's tag filter: even where raw HTML is allowed, <script>, <style>, <iframe>,
    // <textarea>, <title>, <xmp>, <noembed>, <noframes> and <plaintext> lose their '<'.
    if (allow_raw_html) attach(parser.get(), "tagfilter");
    std::unique_ptr<cmark_node, node_deleter> doc;
    {
      // cmark-gfm 0.29.0.gfm.6 sets its extensions' characters in process-wide tables when
      // a parse starts and clears them when it ends (later releases keep them per parser):
      // two parses at once would lose strikethrough or autolinks in one of them.
      std::lock_guard lock(parse_mutex);
      cmark_parser_feed(parser.get(), markdown.data(), markdown.size());
      doc.reset(cmark_parser_finish(parser.get()));
    }
    if (!doc) return {};
    char* html =
        cmark_render_html(doc.get(), options, cmark_parser_get_syntax_extensions(parser.get()));
    if (!html) return {};
    std::string out(html);
    cmark_get_default_mem_allocator()->free(html);
    return out;
  } catch (const std::exception&) {
    return {};
  }
}

std::string markdown_to_text(std::string_view markdown, bool allow_raw_html) {
  return html_to_text(markdown_to_html(markdown, allow_raw_html));
}

std::string escape_markdown(std::string_view value) {
  // Numeric character references rather than backslashes: CommonMark §2.5 says they never
  // count as structure, and unlike backslash escapes they also hold inside a raw HTML block
  // (where a tenant allowed raw HTML) and in link destinations.
  std::string out;
  out.reserve(value.size() + value.size() / 4);
  bool leading = true;
  for (std::size_t i = 0; i < value.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < value.size() && value[i + 1] == '\n') ++i;
      c = ' ';
    }
    bool punct = (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
                 (c >= 0x7B && c <= 0x7E);
    // Blanks at the start of a value would indent a line into a code block.
    if (punct || (leading && (c == ' ' || c == '\t'))) {
      out += "&#";
      out += std::to_string(c == '\t' ? 32 : c);
      out += ';';
    } else {
      out += static_cast<char>(c);
    }
    if (c != ' ' && c != '\t') leading = false;
  }
  return out;
}

} // namespace iaposte::render
