// HTML to readable text: libxml2's HTML parser builds the tree, a walk writes the text.
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <vector>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "render/html_text.hpp"

namespace iaposte::render {
namespace {

std::size_t columns(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

// Lines of text with a prefix per nesting level (quote marks, list indentation), blank lines
// between blocks, words wrapped near `width` columns.
class writer {
public:
  explicit writer(std::size_t width) : width_(width) {}

  // Inline text: runs of white space are one space, none at a line's start.
  void text(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
      if (blank(s[i])) {
        space_ = true;
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < s.size() && !blank(s[j]))
        ++j;
      word(s.substr(i, j - i));
      i = j;
    }
  }

  // Text of <pre>: as it is, line for line (CR LF, CR or LF end a line), never wrapped.
  void verbatim(std::string_view s) {
    std::size_t b = 0;
    while (b <= s.size()) {
      std::size_t e = s.find_first_of("\r\n", b);
      std::string_view line = s.substr(b, e == std::string_view::npos ? e : e - b);
      if (!line.empty()) {
        start_line();
        if (space_ && has_content()) line_ += ' ';
        space_ = false;
        line_ += line;
        cols_ += columns(line);
      }
      if (e == std::string_view::npos) break;
      line_break();
      b = e + 1;
      if (s[e] == '\r' && b < s.size() && s[b] == '\n') ++b;
    }
  }

  // A word that must stay whole (" <url>" after a link text).
  void word(std::string_view w) {
    if (w.empty()) return;
    start_line();
    std::size_t wc = columns(w);
    bool sep = has_content() && (space_ || cell_sep_);
    std::string_view gap = cell_sep_ && has_content() ? " | " : " ";
    if (sep && cols_ + gap.size() + wc > width_) {
      end_line();
      start_line();
      sep = false;
    }
    if (sep) {
      line_ += gap;
      cols_ += gap.size();
    }
    line_ += w;
    cols_ += wc;
    space_ = false;
    cell_sep_ = false;
  }

  void line_break() {
    start_line();
    end_line();
  }

  // Asks for `lines` line ends (2: a blank line) before whatever comes next.
  void block(int lines) {
    pending_ = std::max(pending_, lines);
    space_ = false;
    cell_sep_ = false;
  }

  void push_prefix(std::string p, std::string marker = {}) {
    prefixes_.push_back(std::move(p));
    marker_ = std::move(marker);
  }
  void pop_prefix() {
    if (!prefixes_.empty()) prefixes_.pop_back();
    marker_.clear();
  }
  // Writes the line ends asked for now, under the current prefixes (before a quote adds its
  // own, so that the blank line above a quote has no '>').
  void settle() {
    if (pending_ == 0) return;
    if (started_ && has_content()) end_line();
    started_ = false;
    if (pending_ >= 2 && !out_.empty() && !out_.ends_with("\n\n")) {
      std::string p;
      for (const auto& s : prefixes_)
        p += s;
      while (!p.empty() && p.back() == ' ')
        p.pop_back();
      out_ += p;
      out_ += '\n';
    }
    pending_ = 0;
  }
  void cell() { cell_sep_ = true; }
  void space() { space_ = true; }

  std::string finish() {
    if (started_) end_line();
    while (!out_.empty() && (out_.back() == '\n' || out_.back() == ' '))
      out_.pop_back();
    if (!out_.empty()) out_ += '\n';
    return std::move(out_);
  }

private:
  bool has_content() const { return line_.size() > prefix_len_; }

  void start_line() {
    settle();
    if (started_) return;
    started_ = true;
    line_.clear();
    for (std::size_t i = 0; i < prefixes_.size(); ++i) {
      // A list item's first line shows its marker where the later lines are indented.
      if (i + 1 == prefixes_.size() && !marker_.empty()) {
        line_ += marker_;
        marker_.clear();
      } else {
        line_ += prefixes_[i];
      }
    }
    prefix_len_ = line_.size();
    cols_ = columns(line_);
  }

  void end_line() {
    std::size_t end = line_.size();
    while (end > 0 && line_[end - 1] == ' ')
      --end;
    out_.append(line_, 0, end);
    out_ += '\n';
    line_.clear();
    started_ = false;
    space_ = false;
    cell_sep_ = false;
    cols_ = 0;
  }

  std::size_t width_;
  std::string out_;
  std::string line_;
  std::size_t cols_ = 0;
  std::size_t prefix_len_ = 0;
  bool started_ = false;
  bool space_ = false;
  bool cell_sep_ = false;
  int pending_ = 0;
  std::vector<std::string> prefixes_;
  std::string marker_;
};

bool is(const xmlNode* n, const char* name) {
  return n->name && xmlStrcasecmp(n->name, reinterpret_cast<const xmlChar*>(name)) == 0;
}

bool is_any(const xmlNode* n, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [n](const char* name) { return is(n, name); });
}

std::string attribute(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetProp(n, reinterpret_cast<const xmlChar*>(name));
  if (!v) return {};
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// Content never shown to a reader: the head, scripts, styles, embedded objects, and what the
// author hid (a marketing email's hidden preheader).
bool hidden(const xmlNode* n) {
  if (is_any(n, {"head", "script", "style", "template", "noscript", "title", "iframe", "object",
                 "embed", "svg", "select", "canvas", "audio", "video", "map"}))
    return true;
  if (xmlHasProp(n, reinterpret_cast<const xmlChar*>("hidden"))) return true;
  std::string style = lower(attribute(n, "style"));
  style.erase(std::remove_if(style.begin(), style.end(), blank), style.end());
  return style.find("display:none") != std::string::npos;
}

bool paragraph_block(const xmlNode* n) {
  return is_any(n, {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre", "hr",
                    "dl", "figure", "address", "fieldset", "details"});
}

bool line_block(const xmlNode* n) {
  return is_any(n, {"div",    "li",      "tr",      "dt",    "dd",   "section",    "article",
                    "header", "footer",  "nav",     "aside", "main", "figcaption", "form",
                    "center", "caption", "summary", "ul",    "ol",   "tbody",      "thead",
                    "tfoot",  "body",    "html",    "legend"});
}

bool inside_list(const xmlNode* n) {
  for (const xmlNode* p = n->parent; p; p = p->parent)
    if (is_any(p, {"li", "dd"})) return true;
  return false;
}

std::string collapsed_text(const xmlNode* n) {
  xmlChar* c = xmlNodeGetContent(n);
  if (!c) return {};
  std::string s(reinterpret_cast<const char*>(c));
  xmlFree(c);
  std::string out;
  bool sp = false;
  for (char ch : s) {
    if (blank(ch)) {
      sp = !out.empty();
      continue;
    }
    if (sp) out += ' ';
    sp = false;
    out += ch;
  }
  return out;
}

// Per element on the way down, what to undo on the way up.
struct frame {
  bool prefix = false;
};

struct list_state {
  bool ordered = false;
  long counter = 1;
};

class walker {
public:
  explicit walker(std::size_t width) : w_(width) {}

  std::string run(xmlNode* root) {
    // Iterative, with the parent links: no recursion however deep the document.
    xmlNode* n = root;
    while (n) {
      bool descend = enter(n);
      if (descend && n->children) {
        n = n->children;
        continue;
      }
      while (n) {
        if (n->type == XML_ELEMENT_NODE && descend) leave(n);
        descend = true;
        if (n == root) {
          n = nullptr;
          break;
        }
        if (n->next) {
          n = n->next;
          break;
        }
        n = n->parent;
      }
    }
    return w_.finish();
  }

private:
  bool enter(xmlNode* n) {
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
      if (n->content) {
        std::string_view s(reinterpret_cast<const char*>(n->content));
        if (pre_ > 0)
          w_.verbatim(s);
        else
          w_.text(s);
      }
      return false;
    }
    if (n->type != XML_ELEMENT_NODE && n->type != XML_DOCUMENT_NODE &&
        n->type != XML_HTML_DOCUMENT_NODE)
      return false;
    if (n->type != XML_ELEMENT_NODE) return true;
    if (hidden(n)) return false;
    frames_.push_back({});
    frame& f = frames_.back();
    if (is(n, "br")) {
      w_.line_break();
    } else if (is(n, "hr")) {
      w_.block(2);
      w_.word(std::string(20, '-'));
      w_.block(2);
    } else if (is(n, "img")) {
      std::string alt = attribute(n, "alt");
      if (!alt.empty()) {
        w_.space();
        w_.text(alt);
        w_.space();
      }
    } else if (is_any(n, {"ul", "ol"})) {
      w_.block(inside_list(n) ? 1 : 2);
      list_state l;
      l.ordered = is(n, "ol");
      if (l.ordered) {
        std::string start = attribute(n, "start");
        char* end = nullptr;
        long v = std::strtol(start.c_str(), &end, 10);
        if (!start.empty() && end && *end == '\0' && v > -1000000 && v < 1000000) l.counter = v;
      }
      lists_.push_back(l);
    } else if (is(n, "li")) {
      w_.block(1);
      std::string marker = "- ";
      if (!lists_.empty() && lists_.back().ordered)
        marker = std::to_string(lists_.back().counter++) + ". ";
      w_.push_prefix(std::string(marker.size(), ' '), marker);
      f.prefix = true;
    } else if (is(n, "blockquote")) {
      w_.block(2);
      w_.settle();
      w_.push_prefix("> ");
      f.prefix = true;
    } else if (is_any(n, {"td", "th"})) {
      w_.cell();
    } else if (is(n, "pre")) {
      w_.block(2);
      ++pre_;
    } else if (paragraph_block(n)) {
      w_.block(2);
    } else if (line_block(n)) {
      w_.block(1);
    }
    return true;
  }

  void leave(xmlNode* n) {
    if (frames_.empty()) return;
    frame f = frames_.back();
    frames_.pop_back();
    if (is(n, "a")) link_target(n);
    if (is_any(n, {"ul", "ol"})) {
      if (!lists_.empty()) lists_.pop_back();
      w_.block(inside_list(n) ? 1 : 2);
    } else if (is(n, "pre")) {
      if (pre_ > 0) --pre_;
      w_.block(2);
    } else if (paragraph_block(n)) {
      w_.block(2);
    } else if (line_block(n)) {
      w_.block(1);
    } else if (is_any(n, {"td", "th"})) {
      w_.space();
    }
    if (f.prefix) {
      w_.pop_prefix();
      w_.block(is(n, "blockquote") ? 2 : 1);
    }
  }

  // " <url>" after a link's text, unless the text already says it or the target is not a
  // place a reader could go.
  void link_target(const xmlNode* n) {
    std::string href = attribute(n, "href");
    // As browsers do (URL Standard, basic URL parser): tabs and line breaks are not part of it.
    std::erase_if(href, [](char c) { return c == '\t' || c == '\r' || c == '\n'; });
    std::string_view h = href;
    while (!h.empty() && blank(h.front()))
      h.remove_prefix(1);
    while (!h.empty() && blank(h.back()))
      h.remove_suffix(1);
    if (h.empty() || h.front() == '#') return;
    std::string scheme = lower(std::string(h.substr(0, std::min<std::size_t>(h.size(), 11))));
    if (scheme.starts_with("javascript:") || scheme.starts_with("vbscript:") ||
        scheme.starts_with("data:"))
      return;
    std::string text = collapsed_text(n);
    // The text already shows the address: "contact@acme.fr" for mailto:contact@acme.fr,
    // "www.acme.fr" for http://www.acme.fr (an autolink).
    std::string_view bare = h;
    for (std::string_view scheme_prefix : {"mailto:", "https://", "http://"})
      if (lower(std::string(bare.substr(0, scheme_prefix.size()))) == scheme_prefix) {
        bare.remove_prefix(scheme_prefix.size());
        break;
      }
    if (text == h || text == bare) return;
    w_.space();
    w_.word("<" + std::string(h) + ">");
  }

  writer w_;
  std::vector<frame> frames_;
  std::vector<list_state> lists_;
  int pre_ = 0;
};

void init_libxml() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

} // namespace

std::string html_to_text(std::string_view html, std::size_t width) {
  if (html.empty()) return {};
  try {
    init_libxml();
    if (html.size() > static_cast<std::size_t>(INT_MAX)) html = html.substr(0, INT_MAX);
    const int options = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                        HTML_PARSE_NONET | HTML_PARSE_COMPACT;
    htmlDocPtr doc =
        htmlReadMemory(html.data(), static_cast<int>(html.size()), nullptr, "UTF-8", options);
    if (!doc) return {};
    std::string out;
    try {
      walker w(std::max<std::size_t>(width, 20));
      out = w.run(reinterpret_cast<xmlNode*>(doc));
    } catch (...) {
      xmlFreeDoc(doc);
      throw;
    }
    xmlFreeDoc(doc);
    return out;
  } catch (const std::exception&) {
    return {};
  }
}

} // namespace iaposte::render
