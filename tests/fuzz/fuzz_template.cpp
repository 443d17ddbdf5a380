// libFuzzer target for stored templates (lib/render/template.hpp): arbitrary bytes become a
// template part, variables and a partial, which are validated, compiled and rendered.
//
// Input: one flags byte, then `template \0 variables-json \0 partial`. The flags pick the part
// the template goes into, strict mode, raw HTML, and whether the partial is called
// "signature" (the name test templates use) or something else.
//
// Checked beyond "no crash, no sanitizer report, no exception":
//  - validate() says exactly what compile() says, and a failed compile gives no template;
//  - a render either succeeds or says why, never both;
//  - everything rendered stays within max_bytes, whatever the loops;
//  - a rendered subject never holds CR or LF;
//  - rendering twice gives the same result (no state kept between calls).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "render/template.hpp"

using namespace iaposte::render;
using json = nlohmann::json;

namespace {

[[noreturn]] void broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "property broken: %s: %s\n", what, detail.c_str());
  std::abort();
}

const json default_vars = json::parse(R"json({
  "nom": "Hélène", "entreprise": "Ça & <Cie>", "n": 3, "ok": true, "non": false, "vide": [],
  "l": [1, 2, 3, 4, 5, 6, 7, 8], "o": {"a": {"b": "x\ny"}, "l": [{"k": "v"}, {"k": "w"}]},
  "md": "**x** <script>alert(1)</script> [l](javascript:x)", "crlf": "a\r\nb"
})json");

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string_view tmpl = rest.substr(0, rest.find('\0'));
  std::string_view vars_text;
  std::string_view partial_text;
  if (tmpl.size() < rest.size()) {
    std::string_view after = rest.substr(tmpl.size() + 1);
    vars_text = after.substr(0, after.find('\0'));
    if (vars_text.size() < after.size()) partial_text = after.substr(vars_text.size() + 1);
  }

  template_parts parts;
  parts.subject = (flags & 3) == 0 ? std::string(tmpl) : std::string("Sujet {{nom}}");
  switch (flags & 3) {
  case 0:
    parts.text = "corps";
    break;
  case 1:
    parts.text = tmpl;
    break;
  case 2:
    parts.html = tmpl;
    break;
  default:
    parts.markdown = tmpl;
    break;
  }
  template_options topt;
  topt.strict = (flags & 4) != 0;

  json vars = json::parse(vars_text, nullptr, false);
  if (vars.is_discarded()) vars = default_vars;

  partial_map partials;
  std::string pname = (flags & 8) ? "signature" : "p";
  partials[pname] = {std::string(partial_text), "<b>" + std::string(partial_text) + "</b>"};
  partials["boucle"] = {"{{> boucle}}", "{{> boucle}}"};

  render_options ropt;
  ropt.max_bytes = 64 * 1024;
  ropt.max_steps = 200 * 1000;
  ropt.allow_raw_html = (flags & 16) != 0;

  try {
    auto c = compile(parts, topt);
    std::string v = validate(parts);
    if (v != c.error) broken("validate differs from compile", v);
    if (c.ok() != (c.tmpl != nullptr)) broken("compile result", c.error);
    if (!c.ok()) return 0;
    (void)references_partial(*c.tmpl, "signature");

    auto r = render(*c.tmpl, vars, partials, ropt);
    if (!r.ok()) {
      if (!r.value.subject.empty() || !r.value.text.empty() || !r.value.html.empty())
        broken("output beside an error", r.error);
      return 0;
    }
    std::size_t total = r.value.subject.size() + r.value.text.size() + r.value.html.size();
    if (total > ropt.max_bytes) broken("output over max_bytes", std::to_string(total));
    if (r.value.subject.find_first_of("\r\n") != std::string::npos)
      broken("line break in the subject", r.value.subject);
    auto again = render(*c.tmpl, vars, partials, ropt);
    if (again.error != r.error || again.value.subject != r.value.subject ||
        again.value.text != r.value.text || again.value.html != r.value.html)
      broken("second render differs", again.error);
  } catch (const std::exception& e) {
    broken("exception", e.what());
  }
  return 0;
}
