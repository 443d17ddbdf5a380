// Mustache templates: kainjow's parser reads the syntax, our own walk over its tree renders.
//
// kainjow's renderer is not used (docs/TEMPLATES.md): it collects a whole line in memory
// before its output handler sees it, so a loop nest cannot be bounded; it sets a sticky error
// on the shared template object (a bad partial would break a cached template for good, and
// render() is not const, so not for several threads); it parses every partial again at every
// use; it renders booleans as nothing, says nothing about a missing name, and keeps the blank
// line of a false section standing alone on its line (the Mustache spec removes it). Its
// parser is public (kainjow::mustache::parser) and builds the tree its renderer would walk,
// so the syntax accepted is exactly kainjow's.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <deque>
#include <exception>
#include <vector>

#include <kainjow/mustache.hpp>
#include <nlohmann/json.hpp>

#include "render/html_text.hpp"
#include "render/markdown.hpp"
#include "render/render.hpp"
#include "render/template.hpp"

namespace iaposte::render {
namespace {

namespace mst = kainjow::mustache;
using json = nlohmann::json;

enum class node_kind : std::uint8_t { text, variable, raw_variable, section, inverted, partial };

// One step of a parsed template. A section's children are the nodes [index + 1, end).
struct node {
  node_kind kind = node_kind::text;
  bool standalone_eol = false; // a partial alone on its line: that line's end was removed
  std::uint32_t end = 0;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string text;              // literal text, or the name as written
  std::vector<std::string> path; // the name split at its dots; empty for "."
  std::string indent;            // a partial alone on its line: put before each of its lines
};

struct parsed {
  std::vector<node> nodes;
};

std::string position(std::uint32_t line, std::uint32_t column) {
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// Line and column (in characters, not bytes: the users write French) of a byte offset.
struct locator {
  std::string_view src;
  std::vector<std::size_t> starts{0};
  explicit locator(std::string_view s) : src(s) {
    for (std::size_t i = 0; i < s.size(); ++i)
      if (s[i] == '\n') starts.push_back(i + 1);
  }
  std::pair<std::uint32_t, std::uint32_t> at(std::size_t pos) const {
    pos = std::min(pos, src.size());
    auto it = std::upper_bound(starts.begin(), starts.end(), pos);
    std::size_t line = static_cast<std::size_t>(it - starts.begin());
    std::size_t col = 1;
    for (std::size_t i = *(it - 1); i < pos; ++i)
      if ((static_cast<unsigned char>(src[i]) & 0xC0) != 0x80) ++col;
    return {static_cast<std::uint32_t>(line), static_cast<std::uint32_t>(col)};
  }
  std::string describe(std::size_t pos) const {
    auto [l, c] = at(pos);
    return position(l, c);
  }
};

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

// The section depth kainjow's tree would reach, found before kainjow builds it: its parser
// checks the tree recursively and the tree is destroyed recursively, so a hostile nest of
// {{#a}} would overflow the stack there. The scan follows kainjow's tag reading exactly (same
// delimiters, same triple-brace and set-delimiter rules); what it cannot read, kainjow
// reports.
std::string check_depth(std::string_view in, const locator& where) {
  std::string open = "{{";
  std::string close = "}}";
  bool brace = true;
  std::size_t depth = 0;
  std::size_t pos = 0;
  const std::size_t n = in.size();
  while (pos < n) {
    if (in.compare(pos, open.size(), open) != 0) {
      ++pos;
      continue;
    }
    std::size_t start = pos;
    std::size_t c = pos + open.size();
    bool triple = brace && c < n && in[c] == '{';
    std::string_view end_delim = triple ? std::string_view("}}}") : std::string_view(close);
    if (triple) ++c;
    std::size_t e = in.find(end_delim, c);
    if (e == std::string_view::npos) return {};
    std::string_view contents = trim(in.substr(c, e - c));
    if (!contents.empty() && contents.front() == '=') {
      // "=<% %>=": two delimiters without '=' or white space, separated by spaces.
      if (contents.size() < 5 || contents.back() != '=') return {};
      std::string_view inner = trim(contents.substr(1, contents.size() - 2));
      std::size_t sp = inner.find(' ');
      if (sp == std::string_view::npos) return {};
      std::size_t next = inner.find_first_not_of(' ', sp + 1);
      if (next == std::string_view::npos) return {};
      std::string_view b = inner.substr(0, sp);
      std::string_view en = inner.substr(next);
      auto valid = [](std::string_view d) {
        return std::none_of(d.begin(), d.end(), [](char ch) { return ch == '=' || is_space(ch); });
      };
      if (!valid(b) || !valid(en)) return {};
      open.assign(b);
      close.assign(en);
      brace = open == "{{" && close == "}}";
    } else if (!triple && !contents.empty() && (contents[0] == '#' || contents[0] == '^')) {
      if (++depth > max_section_depth)
        return "sections nested deeper than " + std::to_string(max_section_depth) + " at " +
               where.describe(start);
    } else if (!triple && !contents.empty() && contents[0] == '/') {
      if (depth == 0) return {};
      --depth;
    }
    pos = e + end_delim.size();
  }
  return {};
}

// kainjow's messages end in " at <byte offset>": ours give the line and column instead.
std::string translate_error(const std::string& msg, std::string_view src, const locator& where) {
  std::size_t at = msg.rfind(" at ");
  std::size_t offset = 0;
  if (at == std::string::npos ||
      std::from_chars(msg.data() + at + 4, msg.data() + msg.size(), offset).ec != std::errc())
    return msg;
  std::string what = msg.substr(0, at);
  if (!what.empty()) what[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(what[0])));
  std::string out = what + " at " + where.describe(offset);
  if (what == "unclosed tag" || what == "invalid set delimiter tag") {
    std::string_view tag = src.substr(std::min(offset, src.size()));
    tag = tag.substr(0, std::min<std::size_t>(tag.find_first_of("\r\n"), 24));
    out += " (\"" + std::string(tag) + "\")";
  }
  return out;
}

// The tree flattened back into the template's order, with the section ends kainjow removed,
// so that lines can be looked at as the spec describes them.
enum class token_kind : std::uint8_t {
  text,
  blank, // one space or tab (kainjow gives each its own component)
  newline,
  variable,
  raw_variable,
  section,
  inverted,
  section_end,
  comment,
  partial,
  set_delimiter,
};

struct token {
  token_kind kind;
  const mst::component<std::string>* comp;
  bool removed = false;
};

void flatten(const mst::component<std::string>& parent, std::vector<token>& out) {
  for (const auto& c : parent.children) {
    switch (c.tag.type) {
    case mst::tag_type::text:
      out.push_back({c.is_newline()                  ? token_kind::newline
                     : c.is_non_newline_whitespace() ? token_kind::blank
                                                     : token_kind::text,
                     &c});
      break;
    case mst::tag_type::variable:
      out.push_back({token_kind::variable, &c});
      break;
    case mst::tag_type::unescaped_variable:
      out.push_back({token_kind::raw_variable, &c});
      break;
    case mst::tag_type::section_begin:
    case mst::tag_type::section_begin_inverted:
      out.push_back(
          {c.tag.type == mst::tag_type::section_begin ? token_kind::section : token_kind::inverted,
           &c});
      flatten(c, out);
      out.push_back({token_kind::section_end, &c});
      break;
    case mst::tag_type::section_end: // removed by kainjow once matched; never reached
      break;
    case mst::tag_type::comment:
      out.push_back({token_kind::comment, &c});
      break;
    case mst::tag_type::partial:
      out.push_back({token_kind::partial, &c});
      break;
    case mst::tag_type::set_delimiter:
      out.push_back({token_kind::set_delimiter, &c});
      break;
    }
  }
}

bool standalone_kind(token_kind k) {
  return k == token_kind::section || k == token_kind::inverted || k == token_kind::section_end ||
         k == token_kind::comment || k == token_kind::partial || k == token_kind::set_delimiter;
}

// Mustache spec, "standalone" tags: a section, inverted section, end, comment, partial or
// set-delimiter tag alone on its line (blanks aside) leaves no line behind. A partial keeps
// its indentation for each of its lines; its line end comes back when the partial's own text
// does not end with one (a signature given without a final newline is not glued to the
// following line, a small departure from the spec).
struct standalone_info {
  std::string indent;
  bool eol = false;
};

void mark_standalone(std::vector<token>& toks,
                     std::vector<std::pair<std::size_t, standalone_info>>& partials) {
  std::size_t b = 0;
  while (b < toks.size()) {
    std::size_t e = b;
    while (e < toks.size() && toks[e].kind != token_kind::newline)
      ++e;
    std::size_t tag = toks.size();
    bool ok = true;
    for (std::size_t i = b; i < e && ok; ++i) {
      if (toks[i].kind == token_kind::blank) continue;
      if (standalone_kind(toks[i].kind) && tag == toks.size())
        tag = i;
      else
        ok = false;
    }
    if (ok && tag != toks.size()) {
      standalone_info info;
      for (std::size_t i = b; i < e; ++i) {
        if (toks[i].kind != token_kind::blank) continue;
        if (i < tag) info.indent += toks[i].comp->text;
        toks[i].removed = true;
      }
      if (e < toks.size()) {
        toks[e].removed = true;
        info.eol = true;
      }
      if (toks[tag].kind == token_kind::partial) partials.emplace_back(tag, std::move(info));
    }
    b = e + 1;
  }
}

bool valid_name(const std::string& name) {
  if (name == ".") return true;
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  if (name.find("..") != std::string::npos) return false;
  return std::none_of(name.begin(), name.end(), is_space);
}

std::vector<std::string> split_path(const std::string& name) {
  std::vector<std::string> path;
  if (name == ".") return path;
  std::size_t b = 0;
  while (true) {
    std::size_t d = name.find('.', b);
    path.emplace_back(name.substr(b, d == std::string::npos ? std::string::npos : d - b));
    if (d == std::string::npos) break;
    b = d + 1;
  }
  return path;
}

// Parses one part (or one partial): the error, when there is one, starts with `label: `.
std::string parse_part(const std::string& src, std::string_view label, bool single_line,
                       parsed& out) {
  auto fail = [&](const std::string& what) { return std::string(label) + ": " + what; };
  if (src.size() > max_part_bytes)
    return fail("template is larger than " + std::to_string(max_part_bytes) + " bytes");
  locator where(src);
  if (auto e = check_depth(src, where); !e.empty()) return fail(e);

  mst::context<std::string> ctx;
  mst::context_internal<std::string> internal{ctx};
  mst::component<std::string> root;
  std::string error;
  mst::parser<std::string> parser{src, internal, root, error};
  if (!error.empty()) return fail(translate_error(error, src, where));

  std::vector<token> toks;
  flatten(root, toks);
  std::vector<std::pair<std::size_t, standalone_info>> partials;
  mark_standalone(toks, partials);

  std::vector<std::size_t> open;
  std::size_t next_partial = 0;
  bool can_merge = false; // the last node is text that the next text continues
  for (std::size_t i = 0; i < toks.size(); ++i) {
    const token& t = toks[i];
    const auto& c = *t.comp;
    if (single_line && t.kind == token_kind::newline)
      return fail("line break in the subject template at " + where.describe(c.position));
    if (t.removed || t.kind == token_kind::comment || t.kind == token_kind::set_delimiter) continue;
    if (t.kind == token_kind::text || t.kind == token_kind::blank ||
        t.kind == token_kind::newline) {
      if (!can_merge) out.nodes.push_back({});
      out.nodes.back().text += c.text;
      can_merge = true;
      continue;
    }
    can_merge = false;
    if (t.kind == token_kind::section_end) {
      out.nodes[open.back()].end = static_cast<std::uint32_t>(out.nodes.size());
      open.pop_back();
      continue;
    }
    const std::string& name = c.tag.name;
    auto [line, column] = where.at(c.position);
    if (name.empty()) return fail("empty tag at " + position(line, column));
    if (!valid_name(name))
      return fail("invalid name \"" + name + "\" at " + position(line, column));
    node n;
    n.line = line;
    n.column = column;
    n.text = name;
    switch (t.kind) {
    case token_kind::variable:
      n.kind = node_kind::variable;
      break;
    case token_kind::raw_variable:
      n.kind = node_kind::raw_variable;
      break;
    case token_kind::section:
      n.kind = node_kind::section;
      break;
    case token_kind::inverted:
      n.kind = node_kind::inverted;
      break;
    default:
      n.kind = node_kind::partial;
      break;
    }
    if (n.kind == node_kind::partial) {
      while (next_partial < partials.size() && partials[next_partial].first < i)
        ++next_partial;
      if (next_partial < partials.size() && partials[next_partial].first == i) {
        n.indent = std::move(partials[next_partial].second.indent);
        n.standalone_eol = partials[next_partial].second.eol;
      }
    } else {
      n.path = split_path(name);
    }
    bool is_section = n.kind == node_kind::section || n.kind == node_kind::inverted;
    out.nodes.push_back(std::move(n));
    if (is_section) open.push_back(out.nodes.size() - 1);
  }
  return {};
}

constexpr std::size_t part_count = 4;

} // namespace

struct compiled_template::impl {
  bool strict = false;
  parsed parts[part_count];
  bool present[part_count] = {false, false, false, false};
};

compiled_template::compiled_template(std::unique_ptr<const impl> i) : impl_(std::move(i)) {}
compiled_template::~compiled_template() = default;
compiled_template::compiled_template(compiled_template&&) noexcept = default;
compiled_template& compiled_template::operator=(compiled_template&&) noexcept = default;
bool compiled_template::strict() const {
  return impl_->strict;
}

std::string_view part_name(part p) {
  switch (p) {
  case part::subject:
    return "subject";
  case part::text:
    return "text";
  case part::html:
    return "html";
  case part::markdown:
    return "markdown";
  }
  return "?";
}

compile_result compile(const template_parts& parts, template_options options) {
  compile_result r;
  try {
    if (trim(parts.subject).empty()) {
      r.error = "subject: required";
      return r;
    }
    if (parts.text.empty() && parts.html.empty() && parts.markdown.empty()) {
      r.error = "no body: give a text, html or markdown part";
      return r;
    }
    auto t = std::make_unique<compiled_template::impl>();
    t->strict = options.strict;
    const std::string* sources[part_count] = {&parts.subject, &parts.text, &parts.html,
                                              &parts.markdown};
    for (std::size_t i = 0; i < part_count; ++i) {
      if (sources[i]->empty()) continue;
      t->present[i] = true;
      auto label = part_name(static_cast<part>(i));
      if (auto e = parse_part(*sources[i], label, i == 0, t->parts[i]); !e.empty()) {
        r.error = std::move(e);
        return r;
      }
    }
    r.tmpl = std::make_shared<const compiled_template>(std::move(t));
  } catch (const std::exception& e) {
    r.tmpl.reset();
    r.error = std::string("template could not be parsed: ") + e.what();
  }
  return r;
}

std::string validate(const template_parts& parts) {
  return compile(parts).error;
}

bool references_partial(const compiled_template& tmpl, std::string_view name) {
  const auto& t = tmpl.internals();
  for (const auto& p : t.parts)
    for (const auto& n : p.nodes)
      if (n.kind == node_kind::partial && n.text == name) return true;
  return false;
}

namespace {

enum class escaping : std::uint8_t { none, html, markdown };

// One render call: the context stack, the budgets, the partials parsed so far.
class renderer {
public:
  renderer(const compiled_template::impl& t, std::span<const json* const> layers,
           const partial_map& partials, const render_options& opt)
      : tmpl_(t), layers_(layers), partials_(partials), opt_(opt) {}

  bool run(part p, std::string& out) {
    label_ = part_name(p);
    part_ = p;
    esc_ = p == part::html ? escaping::html
                           : (p == part::markdown ? escaping::markdown : escaping::none);
    const parsed& src = tmpl_.parts[static_cast<std::size_t>(p)];
    return walk(src, 0, src.nodes.size(), out);
  }

  // Counts bytes produced outside the walk (derived alternatives) against the same budget.
  bool account(std::size_t n) {
    if (n > opt_.max_bytes || used_ > opt_.max_bytes - n) return too_big();
    used_ += n;
    return true;
  }

  std::string error;

private:
  bool too_big() {
    if (error.empty())
      error = "rendered output exceeds " + std::to_string(opt_.max_bytes) + " bytes";
    return false;
  }

  bool put(std::string& out, std::string_view s) {
    if (!account(s.size())) return false;
    out.append(s);
    return true;
  }

  bool step() {
    if (++steps_ <= opt_.max_steps) return true;
    if (error.empty())
      error =
          "template does too much work (more than " + std::to_string(opt_.max_steps) + " steps)";
    return false;
  }

  std::string where(const node& n) const {
    return " in " + label_ + " at " + position(n.line, n.column);
  }

  static std::string tag_of(const node& n) {
    switch (n.kind) {
    case node_kind::raw_variable:
      return "{{{" + n.text + "}}}";
    case node_kind::section:
      return "{{#" + n.text + "}}";
    case node_kind::inverted:
      return "{{^" + n.text + "}}";
    case node_kind::partial:
      return "{{> " + n.text + "}}";
    default:
      return "{{" + n.text + "}}";
    }
  }

  // Spec, "Dotted names": the first part is looked up through the context stack, the rest
  // only inside what it found.
  const json* lookup(const node& n) const {
    if (n.path.empty()) {
      if (!stack_.empty()) return stack_.back();
      for (const json* l : layers_)
        if (l && l->is_object()) return l;
      return nullptr;
    }
    const json* found = nullptr;
    const std::string& first = n.path.front();
    for (auto it = stack_.rbegin(); it != stack_.rend() && !found; ++it)
      if ((*it)->is_object())
        if (auto f = (*it)->find(first); f != (*it)->end()) found = &*f;
    for (std::size_t i = 0; i < layers_.size() && !found; ++i)
      if (layers_[i] && layers_[i]->is_object())
        if (auto f = layers_[i]->find(first); f != layers_[i]->end()) found = &*f;
    for (std::size_t i = 1; i < n.path.size() && found; ++i) {
      if (!found->is_object()) return nullptr;
      auto f = found->find(n.path[i]);
      found = f == found->end() ? nullptr : &*f;
    }
    return found;
  }

  // mustache.js's truthiness: false, null, 0, "" and [] are false; objects are true.
  static bool falsy(const json& v) {
    switch (v.type()) {
    case json::value_t::null:
      return true;
    case json::value_t::boolean:
      return !v.get<bool>();
    case json::value_t::string:
      return v.get_ref<const std::string&>().empty();
    case json::value_t::array:
      return v.empty();
    case json::value_t::number_integer:
      return v.get<std::int64_t>() == 0;
    case json::value_t::number_unsigned:
      return v.get<std::uint64_t>() == 0;
    case json::value_t::number_float:
      return v.get<double>() == 0.0;
    default:
      return false;
    }
  }

  bool missing(const node& n, std::string_view what) {
    if (!tmpl_.strict) return true;
    error = std::string("unresolved ") + std::string(what) + ": " + tag_of(n) + where(n);
    return false;
  }

  bool emit_value(const node& n, const json& v, std::string& out) {
    char buf[32];
    std::string_view s;
    std::string tmp;
    switch (v.type()) {
    case json::value_t::string:
      s = v.get_ref<const std::string&>();
      break;
    case json::value_t::boolean:
      s = v.get<bool>() ? "true" : "false";
      break;
    case json::value_t::number_integer: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get<std::int64_t>());
      s = std::string_view(buf, static_cast<std::size_t>(r.ptr - buf));
      break;
    }
    case json::value_t::number_unsigned: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get<std::uint64_t>());
      s = std::string_view(buf, static_cast<std::size_t>(r.ptr - buf));
      break;
    }
    case json::value_t::number_float:
      tmp = v.dump();
      s = tmp;
      break;
    case json::value_t::null:
      return true;
    default:
      if (!tmpl_.strict) return true;
      error = "variable " + tag_of(n) + where(n) + " is " +
              (v.is_array() ? "a list" : "an object") + ", not a value";
      return false;
    }
    if (part_ == part::subject && s.find_first_of("\r\n") != std::string_view::npos) {
      error = "subject: " + tag_of(n) + " puts a line break in the subject";
      return false;
    }
    if (n.kind == node_kind::variable && esc_ == escaping::html) return put(out, escape_html(s));
    if (n.kind == node_kind::variable && esc_ == escaping::markdown)
      return put(out, escape_markdown(s));
    return put(out, s);
  }

  bool walk(const parsed& p, std::size_t b, std::size_t e, std::string& out) {
    for (std::size_t i = b; i < e; ++i) {
      if (!step()) return false;
      const node& n = p.nodes[i];
      switch (n.kind) {
      case node_kind::text:
        if (!put(out, n.text)) return false;
        break;
      case node_kind::variable:
      case node_kind::raw_variable: {
        const json* v = lookup(n);
        if (!v) {
          if (!missing(n, "variable")) return false;
        } else if (!emit_value(n, *v, out)) {
          return false;
        }
        break;
      }
      case node_kind::section: {
        const json* v = lookup(n);
        if (!v) {
          if (!missing(n, "variable")) return false;
        } else if (!falsy(*v)) {
          if (v->is_array()) {
            for (const auto& item : *v) {
              if (!step()) return false;
              stack_.push_back(&item);
              bool ok = walk(p, i + 1, n.end, out);
              stack_.pop_back();
              if (!ok) return false;
            }
          } else {
            stack_.push_back(v);
            bool ok = walk(p, i + 1, n.end, out);
            stack_.pop_back();
            if (!ok) return false;
          }
        }
        i = n.end - 1;
        break;
      }
      case node_kind::inverted: {
        const json* v = lookup(n);
        if (!v || falsy(*v))
          if (!walk(p, i + 1, n.end, out)) return false;
        i = n.end - 1;
        break;
      }
      case node_kind::partial:
        if (!render_partial(n, out)) return false;
        break;
      }
    }
    return true;
  }

  const parsed* partial_for(const node& n, bool& failed) {
    failed = false;
    bool html = esc_ == escaping::html;
    for (const auto& c : cache_)
      if (c.name == n.text && c.html == html) return &c.tree;
    auto it = partials_.find(n.text);
    if (it == partials_.end()) return nullptr;
    cache_.push_back({n.text, html, {}});
    auto& entry = cache_.back();
    std::string label = "partial \"" + n.text + "\" (" + (html ? "html" : "text") + ")";
    if (auto e = parse_part(html ? it->second.html : it->second.text, label, false, entry.tree);
        !e.empty()) {
      error = std::move(e);
      failed = true;
      return nullptr;
    }
    return &entry.tree;
  }

  bool render_partial(const node& n, std::string& out) {
    bool failed = false;
    const parsed* tree = partial_for(n, failed);
    if (failed) return false;
    if (!tree) return missing(n, "partial");
    if (depth_ >= max_partial_depth) {
      error = "partials nested deeper than " + std::to_string(max_partial_depth) + where(n) +
              " (does \"" + n.text + "\" include itself?)";
      return false;
    }
    std::string saved_label = label_;
    escaping saved_esc = esc_;
    label_ = "partial \"" + n.text + "\" (" + (esc_ == escaping::html ? "html" : "text") + ")";
    // In Markdown the partial's text version is plain text, to stay as written: rendered as
    // text, then made literal (see literal_markdown).
    if (esc_ == escaping::markdown) esc_ = escaping::none;
    ++depth_;
    std::size_t start = out.size();
    bool ok = walk(*tree, 0, tree->nodes.size(), out);
    --depth_;
    esc_ = saved_esc;
    label_ = std::move(saved_label);
    if (!ok) return false;
    if (esc_ == escaping::markdown && depth_ == 0) {
      std::string lit = literal_markdown(std::string_view(out).substr(start));
      used_ -= out.size() - start;
      out.resize(start);
      if (!put(out, lit)) return false;
    }
    if (!n.indent.empty()) {
      std::string body = out.substr(start);
      std::string indented;
      for (std::size_t i = 0; i < body.size(); ++i) {
        if (i == 0 || (body[i - 1] == '\n')) indented += n.indent;
        indented += body[i];
      }
      if (!account(indented.size() - body.size())) return false;
      out.resize(start);
      out += indented;
    }
    if (n.standalone_eol && (out.size() == start || out.back() != '\n'))
      if (!put(out, "\n")) return false;
    return true;
  }

  // Plain text made into Markdown that shows it as it is: each line escaped, leading blanks
  // dropped (they would make a code block), lines joined by hard breaks (CommonMark §6.7),
  // empty lines kept as paragraph breaks.
  static std::string literal_markdown(std::string_view text) {
    std::vector<std::string_view> lines;
    std::size_t b = 0;
    while (b <= text.size()) {
      std::size_t e = text.find('\n', b);
      std::string_view line = text.substr(b, e == std::string_view::npos ? e : e - b);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      lines.push_back(line);
      if (e == std::string_view::npos) break;
      b = e + 1;
    }
    std::string out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      std::string_view line = lines[i];
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
        line.remove_prefix(1);
      out += escape_markdown(line);
      if (i + 1 < lines.size()) {
        bool hard = !line.empty() && !trim(lines[i + 1]).empty();
        out += hard ? "\\\n" : "\n";
      }
    }
    return out;
  }

  struct cached_partial {
    std::string name;
    bool html;
    parsed tree;
  };

  const compiled_template::impl& tmpl_;
  std::span<const json* const> layers_;
  const partial_map& partials_;
  const render_options& opt_;
  std::vector<const json*> stack_;
  std::deque<cached_partial> cache_; // stable addresses; few entries, searched in order
  std::string label_;
  part part_ = part::subject;
  escaping esc_ = escaping::none;
  std::size_t used_ = 0;
  std::size_t steps_ = 0;
  std::size_t depth_ = 0;
};

} // namespace

render_result render(const compiled_template& tmpl, std::span<const json* const> layers,
                     const partial_map& partials, const render_options& options) {
  render_result r;
  try {
    for (const json* l : layers)
      if (l && !l->is_null() && !l->is_object()) {
        r.error = "variables must be a JSON object, not " + std::string(l->type_name());
        return r;
      }
    const auto& t = tmpl.internals();
    renderer rd(t, layers, partials, options);
    auto fail = [&] {
      r.value = {};
      r.error = std::move(rd.error);
      return r;
    };
    std::string markdown;
    if (!rd.run(part::subject, r.value.subject)) return fail();
    if (r.value.subject.find_first_of("\r\n") != std::string::npos) {
      rd.error = "subject: line break in the rendered subject";
      return fail();
    }
    if (t.present[1] && !rd.run(part::text, r.value.text)) return fail();
    if (t.present[2] && !rd.run(part::html, r.value.html)) return fail();
    if (t.present[3] && !rd.run(part::markdown, markdown)) return fail();
    if (!options.derive_alternatives) {
      r.value.markdown = std::move(markdown);
      return r;
    }
    if (t.present[3]) {
      // The text alternative comes from the Markdown, not from an explicit html part.
      std::string html = markdown_to_html(markdown, options.allow_raw_html);
      if (!rd.account(html.size())) return fail();
      if (!t.present[1]) {
        r.value.text = html_to_text(html);
        if (!rd.account(r.value.text.size())) return fail();
      }
      if (!t.present[2]) r.value.html = std::move(html);
    } else if (t.present[2] && !t.present[1]) {
      r.value.text = html_to_text(r.value.html);
      if (!rd.account(r.value.text.size())) return fail();
    }
  } catch (const std::exception& e) {
    r.value = {};
    r.error = std::string("template could not be rendered: ") + e.what();
  }
  return r;
}

} // namespace iaposte::render
