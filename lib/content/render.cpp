// The content stage's first step: contacts resolved into addresses, then the stored template
// or the inline content rendered, the signature placed or appended.
#include <algorithm>
#include <list>
#include <mutex>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "content/detail.hpp"
#include "core/text.hpp"
#include "render/html_text.hpp"
#include "render/markdown.hpp"
#include "render/render.hpp"
#include "render/template.hpp"

namespace iaposte::content {
namespace {

bool is_id(std::string_view ref) {
  return !ref.empty() &&
         std::all_of(ref.begin(), ref.end(), [](char c) { return c >= '0' && c <= '9'; });
}

store::contact_ref contact_ref_of(const std::string& ref) {
  store::contact_ref c;
  if (is_id(ref))
    c.id = std::stoll(ref);
  else
    c.email = ref;
  return c;
}

// The contact references of a request, each once, in order: contact_id first (its fields
// fill the variables), then the recipients given as contacts.
std::vector<std::string> contact_refs(const core::request& req) {
  std::vector<std::string> refs;
  auto add = [&refs](const std::string& ref) {
    if (!ref.empty() && std::find(refs.begin(), refs.end(), ref) == refs.end()) refs.push_back(ref);
  };
  add(req.contact_id);
  for (const auto* list : {&req.to, &req.cc, &req.bcc})
    for (const auto& a : *list)
      add(a.contact);
  return refs;
}

// The variables a contact brings: its attributes, then its fields under their English and
// French names (the original plan's {nom}, {entreprise}); the request's variables win.
nlohmann::json contact_layer(const store::contact& c) {
  nlohmann::json layer = c.attributes.is_object() ? c.attributes : nlohmann::json::object();
  auto set = [&layer](const char* name, const std::string& value) {
    if (!value.empty()) layer[name] = value;
  };
  set("email", c.email);
  set("name", c.name);
  set("nom", c.name);
  set("company", c.company);
  set("entreprise", c.company);
  set("locale", c.locale);
  layer["contact_id"] = c.id;
  return layer;
}

// RFC 3676 §4.3: "-- " on a line of its own before a text signature.
void append_signature(mime::content& c, const store::signature& sig) {
  if (!sig.text.empty() && !c.text.empty()) {
    if (c.text.back() != '\n') c.text += "\n";
    c.text += "\n-- \n" + sig.text;
  }
  if (!sig.html.empty() && !c.html.empty()) {
    const std::string block = "<div class=\"signature\">" + sig.html + "</div>";
    auto body_end = c.html.rfind("</body>");
    if (body_end == std::string::npos)
      c.html += block;
    else
      c.html.insert(body_end, block);
  }
}

} // namespace

// Compiled template versions, least recently used first out. Versions are immutable: a key
// never needs to be invalidated.
struct template_cache::state {
  std::mutex mu;
  std::list<std::string> order; // most recent first
  struct entry {
    std::shared_ptr<const render::compiled_template> tmpl;
    std::list<std::string>::iterator at;
  };
  std::unordered_map<std::string, entry> map;
};

template_cache::template_cache(std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)), state_(std::make_unique<state>()) {}
template_cache::~template_cache() = default;

render::compile_result template_cache::get(const std::string& tenant,
                                           const store::resolved_template& t) {
  const std::string key = tenant + '\n' + t.name + '\n' + std::to_string(t.version) + '\n' +
                          t.parts.locale + '\n' + (t.flags.strict ? "s" : "l");
  {
    std::lock_guard lk(state_->mu);
    if (auto it = state_->map.find(key); it != state_->map.end()) {
      state_->order.splice(state_->order.begin(), state_->order, it->second.at);
      return {it->second.tmpl, {}};
    }
  }
  render::template_parts parts{t.parts.subject, t.parts.text, t.parts.html, t.parts.markdown};
  auto compiled = render::compile(parts, render::template_options{t.flags.strict});
  if (!compiled.ok()) return compiled;
  std::lock_guard lk(state_->mu);
  if (state_->map.count(key)) return compiled; // compiled twice at once: either will do
  state_->order.push_front(key);
  state_->map.emplace(key, state::entry{compiled.tmpl, state_->order.begin()});
  if (state_->map.size() > capacity_) {
    state_->map.erase(state_->order.back());
    state_->order.pop_back();
  }
  return compiled;
}

store::content_query stage::query_for(const core::request& req) {
  store::content_query q;
  q.tenant = req.tenant;
  for (const auto& ref : contact_refs(req))
    q.contacts.push_back(contact_ref_of(ref));
  if (req.tmpl) {
    store::template_ref t;
    t.name = req.tmpl->name;
    t.version = req.tmpl->version;
    if (!req.tmpl->locale.empty()) t.locales.push_back(req.tmpl->locale);
    t.contact_locale = true;
    q.tmpl = std::move(t);
  }
  q.sender = req.from.email;
  q.recipients = req.envelope_recipients(); // the plain ones; contacts are checked as found
  q.category = req.category == core::mail_category::marketing ? store::mail_category::marketing
                                                              : store::mail_category::transactional;
  q.list = req.list;
  return q;
}

draft stage::render(core::request& req, const store::content_answer& stored) const {
  draft d;
  const auto refs = contact_refs(req);
  // The recipients given as contacts become addresses; the contact whose fields fill the
  // variables is contact_id's, else the first one named.
  const store::contact* the_contact = nullptr;
  for (std::size_t i = 0; i < refs.size() && i < stored.contacts.size(); ++i)
    if (stored.contacts[i] && !the_contact) the_contact = &*stored.contacts[i];
  if (!req.contact_id.empty() && (stored.contacts.empty() || !stored.contacts.front())) {
    d.rejection = "contact_id: no contact " + core::clean_text(req.contact_id, 256) +
                  " in tenant " + req.tenant;
    return d;
  }
  for (auto* list : {&req.to, &req.cc, &req.bcc}) {
    const char* field = list == &req.to ? "to" : list == &req.cc ? "cc" : "bcc";
    for (std::size_t i = 0; i < list->size(); ++i) {
      core::address& a = (*list)[i];
      if (a.contact.empty()) continue;
      const auto k =
          static_cast<std::size_t>(std::find(refs.begin(), refs.end(), a.contact) - refs.begin());
      if (k >= stored.contacts.size() || !stored.contacts[k]) {
        d.rejection = std::string(field) + "[" + std::to_string(i) + "].contact: no contact " +
                      core::clean_text(a.contact, 256) + " in tenant " + req.tenant;
        return d;
      }
      a.email = stored.contacts[k]->email;
      if (a.display_name.empty()) a.display_name = stored.contacts[k]->name;
    }
  }

  nlohmann::json contact_vars = the_contact ? contact_layer(*the_contact) : nlohmann::json();
  for (const auto& [name, value] : contact_vars.items())
    if (value.is_string()) d.contact[name] = value.get<std::string>();
  for (const auto& [name, value] : req.variables)
    d.contact[name] = value;

  const auto& sig = stored.sig;
  bool signature_placed = false;
  if (req.tmpl) {
    if (!stored.template_error.empty() || !stored.tmpl) {
      d.rejection = stored.template_error.empty() ? "template: not found" : stored.template_error;
      return d;
    }
    auto compiled = impl_->templates.get(req.tenant, *stored.tmpl);
    if (!compiled.ok()) {
      // Refused at store time; only a version stored before that check could get here.
      d.rejection = "template " + stored.tmpl->name + " version " +
                    std::to_string(stored.tmpl->version) + ": " + compiled.error;
      return d;
    }
    render::partial_map partials;
    partials["signature"] = render::partial{sig ? sig->text : "", sig ? sig->html : ""};
    signature_placed = render::references_partial(*compiled.tmpl, "signature");
    render::render_options options;
    options.max_bytes = impl_->cfg.limits.max_body_bytes;
    options.allow_raw_html = stored.tmpl->flags.allow_raw_html;
    const nlohmann::json* layers[] = {&req.variables_json, &contact_vars};
    std::span<const nlohmann::json* const> search(layers, the_contact ? 2 : 1);
    auto out = render::render(*compiled.tmpl, search, partials, options);
    if (!out.ok()) {
      d.rejection = "template " + stored.tmpl->name + " version " +
                    std::to_string(stored.tmpl->version) + ": " + out.error;
      return d;
    }
    d.content.subject = std::move(out.value.subject);
    d.content.text = std::move(out.value.text);
    d.content.html = std::move(out.value.html);
  } else {
    // Inline content: {variable} substitution, as before templates; Markdown gives the HTML
    // (values escaped so that they cannot add markup) and the text.
    std::map<std::string, std::string> vars = req.variables;
    for (const auto& [name, value] : d.contact)
      vars.emplace(name, value);
    std::vector<std::string> missing;
    d.content.subject = render::substitute(req.subject, vars, missing);
    d.content.text = render::substitute(req.text, vars, missing);
    d.content.html = render::substitute_html(req.html, vars, missing);
    if (!req.markdown.empty()) {
      std::map<std::string, std::string> escaped;
      for (const auto& [name, value] : vars)
        escaped[name] = render::escape_markdown(value);
      const std::string md = render::substitute(req.markdown, escaped, missing);
      const bool raw =
          impl_->cfg.raw_html_tenants.count("*") || impl_->cfg.raw_html_tenants.count(req.tenant);
      if (d.content.html.empty()) d.content.html = render::markdown_to_html(md, raw);
      if (d.content.text.empty()) d.content.text = render::markdown_to_text(md, raw);
    }
    if (!missing.empty()) {
      std::sort(missing.begin(), missing.end());
      missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
      d.rejection = "unresolved variables:";
      for (const auto& name : missing)
        d.rejection += " {" + name + "}";
      return d;
    }
    if (!core::header_safe(d.content.subject)) {
      d.rejection = "subject contains CR or LF after substitution";
      return d;
    }
    // HTML alone: a generated text alternative (clients and filters expect one).
    if (d.content.text.empty() && !d.content.html.empty())
      d.content.text = render::html_to_text(d.content.html);
  }
  if (sig && !signature_placed) append_signature(d.content, *sig);
  if (d.content.subject.size() + d.content.text.size() + d.content.html.size() >
      impl_->cfg.limits.max_body_bytes) {
    d.rejection =
        "body too large after rendering: " +
        std::to_string(d.content.subject.size() + d.content.text.size() + d.content.html.size()) +
        " bytes > " + std::to_string(impl_->cfg.limits.max_body_bytes);
    return d;
  }
  d.content.attachments = std::move(req.attachments); // big: moved, the request is done with them
  // Each cid: of the rendered HTML finds its part, each inline part is shown (intake could
  // only check inline HTML; a template's or Markdown's is known now).
  if (auto why = core::check_inline_references(d.content.html, d.content.attachments);
      !why.empty()) {
    d.rejection = why;
    return d;
  }
  return d;
}

} // namespace iaposte::content
