// Stored Mustache templates: a version is checked and parsed once, then rendered per message.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json_fwd.hpp>

namespace iaposte::render {

// The parts of one template version. The subject is required, and at least one body part
// (text, html, markdown); any other part may be empty. docs/TEMPLATES.md has the syntax.
struct template_parts {
  std::string subject;
  std::string text;
  std::string html;
  std::string markdown;
};

// Which part a piece of a template belongs to: it decides escaping and which version of a
// partial is used.
enum class part { subject, text, html, markdown };
std::string_view part_name(part p);

// A partial supplied by the caller (`{{> signature}}`): its text version goes into the
// subject, text and markdown parts, its html version into the html part. Both are Mustache
// templates themselves, rendered with the same variables.
struct partial {
  std::string text;
  std::string html;
};
using partial_map = std::map<std::string, partial, std::less<>>;

struct template_options {
  // A name referenced but not given ({{nom}}, {{#items}}, {{> signature}}) is an error when
  // true, and renders as nothing when false. Inverted sections ({{^x}}) never are: they are
  // how a template says "when x is absent".
  bool strict = false;
};

// Limits of what compile() accepts; generous for an email, small enough that a hostile
// template cannot exhaust the stack or the memory of the process parsing it.
inline constexpr std::size_t max_part_bytes = 256 * 1024;
inline constexpr std::size_t max_section_depth = 64;
inline constexpr std::size_t max_partial_depth = 8;

// A parsed template version: immutable, so one instance (kept in a cache as
// std::shared_ptr<const compiled_template>) can be rendered from many threads at once.
class compiled_template {
public:
  struct impl;
  explicit compiled_template(std::unique_ptr<const impl> i);
  ~compiled_template();
  compiled_template(compiled_template&&) noexcept;
  compiled_template& operator=(compiled_template&&) noexcept;

  const impl& internals() const { return *impl_; }
  bool strict() const;

private:
  std::unique_ptr<const impl> impl_;
};

struct compile_result {
  std::shared_ptr<const compiled_template> tmpl; // null on error
  std::string error; // e.g. `html: unclosed section "items" at line 3, column 5`
  bool ok() const { return error.empty(); }
};

// Checks and parses a version. Never throws on any input.
compile_result compile(const template_parts& parts, template_options options = {});

// The store-time syntax check: empty when the version is acceptable, else a readable error
// naming the part and the position.
std::string validate(const template_parts& parts);

// Whether some part of the template names this partial ({{> signature}}), wherever it is
// (also inside a section that may turn out false): the caller appends the sender's signature
// itself when the template does not place it.
bool references_partial(const compiled_template& tmpl, std::string_view name);

struct render_options {
  // Upper bound of everything rendered (all parts, derived alternatives included): going past
  // it is an error, found while rendering, before the memory is used.
  std::size_t max_bytes = 2 * 1024 * 1024;
  // Upper bound of the work done (tags visited, loop iterations): a loop nest that renders
  // nothing must end too.
  std::size_t max_steps = 4 * 1024 * 1024;
  // The markdown part may carry raw HTML (a tenant setting); off, raw HTML is omitted.
  bool allow_raw_html = false;
  // Fill what the version lacks: html and text from the markdown part, text from html.
  bool derive_alternatives = true;
};

struct rendered {
  std::string subject;
  std::string text;     // empty when the version has no text (and derive_alternatives is off)
  std::string html;     // empty when the version has no HTML
  std::string markdown; // the rendered markdown part, only when derive_alternatives is off
};

struct render_result {
  rendered value;
  std::string error; // e.g. `unresolved variable: {{nom}} in html at line 2, column 9`
  bool ok() const { return error.empty(); }
};

// Renders a compiled version. `layers` are JSON objects searched in order for each name (the
// request's variables, then the contact's fields): no merge, no copy. Never throws.
render_result render(const compiled_template& tmpl, std::span<const nlohmann::json* const> layers,
                     const partial_map& partials = {}, const render_options& options = {});
// One JSON object of variables (a template, so that an array of layers never converts to it).
template <typename Json>
requires std::is_same_v<Json, nlohmann::json>
    render_result render(const compiled_template& tmpl, const Json& variables,
                         const partial_map& partials = {}, const render_options& options = {}) {
  const Json* layer[] = {&variables};
  return render(tmpl, std::span<const Json* const>(layer), partials, options);
}

} // namespace iaposte::render
