// Reading one raw send request (iaposte.request.v1): size, JSON, fields, cross-field rules.
#include "core/request.hpp"

#include <algorithm>
#include <set>

#include "core/idn.hpp"
#include "core/status.hpp"
#include "core/syntax.hpp"
#include "core/text.hpp"

namespace iaposte::core {
namespace {

// Ordered, so that extra headers keep the order the producer gave them.
using ojson = nlohmann::ordered_json;
using detail::quote;

constexpr std::string_view schema_id = "iaposte.request.v1";
constexpr int max_depth = 64;
constexpr std::size_t max_header_value = 900; // with a name of at most 64, a line stays < 998
constexpr std::size_t max_tag = 128;

constexpr std::string_view supported_fields[] = {
    "schema",   "request_id", "tenant",   "from",    "to",          "cc",
    "bcc",      "reply_to",   "subject",  "text",    "html",        "variables",
    "headers",  "tags",       "metadata", "send_at", "expires_at",  "markdown",
    "template", "contact_id", "category", "list",    "unsubscribe", "attachments"};
// Fields read apart (check_unsupported): ai, whose mode "none" is a no-op.
constexpr std::string_view unsupported_fields[] = {"ai"};

struct header_rule {
  std::string_view name;
  bool ascii_only; // structured headers (RFC 5322 §3.6.4, RFC 2919, RFC 3834): no encoded-words
};
constexpr header_rule fixed_headers[] = {
    {"In-Reply-To", true}, {"References", true}, {"Auto-Submitted", true}, {"Precedence", true},
    {"List-Id", true},     {"Keywords", true},   {"Comments", false},
};

// Thrown from inside the JSON parser's callback, caught right around the parse.
struct too_deep {};

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool valid_request_id(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
  });
}

bool valid_tenant(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// The placeholder syntax of render::substitute.
bool valid_variable_name(std::string_view s) {
  if (s.empty() || s.size() > 128 || (s[0] >= '0' && s[0] <= '9') ||
      !(is_alnum(s[0]) || s[0] == '_'))
    return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == '\t' || (c >= 0x20 && c < 0x7F); });
}

// A field name as shown in a reason: as is when plain, quoted otherwise.
std::string shown_name(std::string_view name) {
  bool plain = !name.empty() && name.size() <= 64 &&
               std::all_of(name.begin(), name.end(),
                           [](char c) { return is_alnum(c) || c == '_' || c == '-' || c == '.'; });
  return plain ? std::string(name) : quote(name);
}

std::string shown_value(const ojson& j) {
  if (j.is_string()) return quote(j.get_ref<const std::string&>());
  auto s = j.dump();
  return s.size() > 64 ? s.substr(0, 64) + "..." : s;
}

std::string missing(std::string_view field) {
  return "missing required field: " + std::string(field);
}

std::string must_be(std::string_view field, std::string_view what, const ojson& got) {
  return std::string(field) + ": must be " + std::string(what) + " (got " + got.type_name() + ")";
}

// A contact reference: an email address, or a positive id (a number or its digits).
std::string read_contact_ref(const ojson& j, const std::string& where, std::string& out) {
  if (j.is_number_integer() && j.get<long long>() > 0) {
    out = std::to_string(j.get<long long>());
    return {};
  }
  if (!j.is_string()) return must_be(where, "an email address or a contact id", j);
  const auto& v = j.get_ref<const std::string&>();
  const bool digits = !v.empty() && v.size() <= 18 && v[0] != '0' &&
                      std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits && !valid_email(v))
    return where + ": expected an email address or a contact id, got " + quote(v);
  out = v;
  return {};
}

// The optional "name" of an address object.
std::string read_display_name(const ojson& j, const std::string& where, address& out) {
  out.display_name.clear();
  if (auto name = j.find("name"); name != j.end()) {
    if (!name->is_string()) return must_be(where + ".name", "a string", *name);
    out.display_name = name->get<std::string>();
    if (auto why = detail::check_display_name(out.display_name); !why.empty())
      return where + ": " + why;
  }
  return {};
}

std::string read_address(const ojson& j, const std::string& where, address& out,
                         bool contact_allowed = false) {
  if (j.is_string()) {
    auto why = detail::parse_mailbox(j.get_ref<const std::string&>(), out);
    return why.empty() ? why : where + ": " + why;
  }
  if (!j.is_object()) return must_be(where, "an address string or an object with \"email\"", j);
  for (const auto& item : j.items())
    if (item.key() != "email" && item.key() != "name" &&
        !(contact_allowed && item.key() == "contact"))
      return where + ": unknown field: " + shown_name(item.key());
  auto email = j.find("email");
  if (auto contact = j.find("contact"); contact != j.end()) {
    if (email != j.end()) return where + ": email and contact are exclusive";
    if (auto e = read_contact_ref(*contact, where + ".contact", out.contact); !e.empty()) return e;
    out.email.clear();
    return read_display_name(j, where, out);
  }
  if (email == j.end()) return missing(where + ".email");
  if (!email->is_string()) return must_be(where + ".email", "a string", *email);
  const auto& e = email->get_ref<const std::string&>();
  if (auto why = detail::check_email(e, out.email))
    return where + ": " + detail::invalid_email(e, *why);
  return read_display_name(j, where, out);
}

// An array of addresses, or a single one.
std::string read_recipients(const ojson& j, const std::string& field, std::vector<address>& out) {
  if (!j.is_array()) {
    address a;
    if (auto e = read_address(j, field, a, true); !e.empty()) return e;
    out.push_back(std::move(a));
    return {};
  }
  for (std::size_t i = 0; i < j.size(); ++i) {
    address a;
    if (auto e = read_address(j[i], field + "[" + std::to_string(i) + "]", a, true); !e.empty())
      return e;
    out.push_back(std::move(a));
  }
  return {};
}

// A text field; `header` says whether it ends up in a header (no CR/LF) or a body.
std::string read_text(const ojson& doc, const char* field, bool header, std::string& out) {
  auto it = doc.find(field);
  if (it == doc.end()) return {};
  if (!it->is_string()) return must_be(field, "a string", *it);
  out = it->get<std::string>();
  if (header && out.find_first_of("\r\n") != std::string::npos)
    return std::string(field) + " contains CR or LF";
  if (out.find('\0') != std::string::npos) return std::string(field) + " contains NUL";
  return {};
}

std::string read_time(const ojson& doc, const char* field, std::optional<clock::time_point>& out) {
  auto it = doc.find(field);
  if (it == doc.end()) return {};
  if (!it->is_string()) return must_be(field, "an RFC 3339 timestamp string", *it);
  out = parse_time(it->get_ref<const std::string&>());
  if (!out) return std::string(field) + ": invalid RFC 3339 timestamp " + shown_value(*it);
  return {};
}

// Scalars only for inline content; a template's sections and loops take objects and arrays.
std::string read_variables(const ojson& j, request& r, bool nested_allowed) {
  if (!j.is_object()) return must_be("variables", "an object", j);
  for (const auto& item : j.items()) {
    const auto& name = item.key();
    if (!valid_variable_name(name))
      return "variables: invalid name " + quote(name) + " (expected [A-Za-z_][A-Za-z0-9_.-]*)";
    const auto& v = item.value();
    if (v.is_string())
      r.variables[name] = v.get<std::string>();
    else if (v.is_boolean())
      r.variables[name] = v.get<bool>() ? "true" : "false";
    else if (v.is_number())
      r.variables[name] = v.dump();
    else if (!nested_allowed || v.is_null())
      return must_be("variables." + name, "a string, number or boolean", v);
  }
  r.variables_json = nlohmann::json(j);
  return {};
}

bool valid_template_name(std::string_view s) {
  return !s.empty() && s.size() <= 100 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

// A language tag as the store keeps them: "fr", "en-gb" (RFC 5646 shape, letters and digits).
bool valid_locale(std::string_view s) {
  if (s.empty() || s.size() > 35) return false;
  std::size_t run = 0;
  for (char c : s) {
    if (c == '-') {
      if (run == 0) return false;
      run = 0;
    } else if (is_alnum(c) && ++run <= 8) {
      continue;
    } else {
      return false;
    }
  }
  return run > 0;
}

std::string read_template(const ojson& j, request& r) {
  if (!j.is_object()) return must_be("template", "an object with \"name\"", j);
  template_ref t;
  for (const auto& item : j.items()) {
    const auto& k = item.key();
    const auto& v = item.value();
    if (k == "name") {
      if (!v.is_string() || !valid_template_name(v.get_ref<const std::string&>()))
        return "template.name: expected 1-100 of [a-z0-9_.-], got " + shown_value(v);
      t.name = v.get<std::string>();
    } else if (k == "version") {
      if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > 1000000)
        return "template.version: expected a positive integer, got " + shown_value(v);
      t.version = static_cast<int>(v.get<long long>());
    } else if (k == "locale") {
      if (!v.is_string() || !valid_locale(v.get_ref<const std::string&>()))
        return "template.locale: expected a language tag such as \"fr\" or \"fr-CA\", got " +
               shown_value(v);
      t.locale = v.get<std::string>();
      std::transform(t.locale.begin(), t.locale.end(), t.locale.begin(), lower);
    } else {
      return "template: unknown field: " + shown_name(k);
    }
  }
  if (t.name.empty()) return missing("template.name");
  r.tmpl = std::move(t);
  return {};
}

// An https URL for List-Unsubscribe (RFC 8058 requires https for one-click).
bool valid_https_url(std::string_view u) {
  if (u.size() < 9 || u.size() > 2000 || u.rfind("https://", 0) != 0) return false;
  return std::all_of(u.begin(), u.end(), [](char c) {
    return c > 0x20 && c < 0x7F && c != '<' && c != '>' && c != '"' && c != '\\';
  });
}

std::string read_unsubscribe(const ojson& j, request& r) {
  if (!j.is_object()) return must_be("unsubscribe", "an object with url and/or mailto", j);
  request::unsubscribe_links links;
  for (const auto& item : j.items()) {
    const auto& k = item.key();
    const auto& v = item.value();
    if (!v.is_string()) return must_be("unsubscribe." + k, "a string", v);
    const auto& text = v.get_ref<const std::string&>();
    if (k == "url") {
      if (!valid_https_url(text))
        return "unsubscribe.url: expected an https URL, got " + quote(text);
      links.url = text;
    } else if (k == "mailto") {
      if (!valid_email(text)) return "unsubscribe.mailto: invalid email address " + quote(text);
      links.mailto = text;
    } else {
      return "unsubscribe: unknown field: " + shown_name(k);
    }
  }
  if (links.url.empty() && links.mailto.empty()) return "unsubscribe: expected url and/or mailto";
  r.unsubscribe = std::move(links);
  return {};
}

// Returns the canonical name of an allowed header, or nothing.
std::optional<header_rule> allowed_header(std::string_view name) {
  for (const auto& rule : fixed_headers)
    if (iequals(name, rule.name)) return rule;
  // X-*, except our own X-Iaposte-* namespace.
  if (name.size() < 3 || name.size() > 64 || !istarts_with(name, "x-")) return std::nullopt;
  if (iequals(name, "x-iaposte") || istarts_with(name, "x-iaposte-")) return std::nullopt;
  if (!std::all_of(name.begin() + 2, name.end(), [](char c) { return is_alnum(c) || c == '-'; }))
    return std::nullopt;
  return header_rule{name, false};
}

std::string read_headers(const ojson& j, request& r) {
  if (!j.is_object()) return must_be("headers", "an object", j);
  for (const auto& item : j.items()) {
    auto rule = allowed_header(item.key());
    if (!rule) return "headers: " + quote(item.key()) + " is not allowed";
    std::string where = "headers." + item.key();
    const auto& v = item.value();
    if (!v.is_string()) return must_be(where, "a string", v);
    const auto& value = v.get_ref<const std::string&>();
    if (!header_safe(value)) return where + " contains CR, LF or NUL";
    auto len = detail::utf8_length(value);
    if (len == 0 || len > max_header_value)
      return where + ": must be 1-" + std::to_string(max_header_value) + " characters";
    if (rule->ascii_only && !printable_ascii(value)) return where + ": must be printable ASCII";
    r.headers.emplace_back(std::string(rule->name), value);
  }
  return {};
}

std::string read_tags(const ojson& j, request& r) {
  if (!j.is_array()) return must_be("tags", "an array of strings", j);
  for (std::size_t i = 0; i < j.size(); ++i) {
    std::string where = "tags[" + std::to_string(i) + "]";
    if (!j[i].is_string()) return must_be(where, "a string", j[i]);
    const auto& tag = j[i].get_ref<const std::string&>();
    auto len = detail::utf8_length(tag);
    if (len == 0 || len > max_tag)
      return where + ": must be 1-" + std::to_string(max_tag) + " characters";
    if (!header_safe(tag)) return where + " contains CR, LF or NUL";
    r.tags.push_back(tag);
  }
  return {};
}

std::string check_unsupported(std::string_view field, const ojson& v) {
  std::string not_yet = std::string(field) + " is not supported yet";
  if (field != "ai") return not_yet;
  // ai with mode "none" is the explicit opt-out, so it is accepted as a no-op.
  if (!v.is_object()) return must_be("ai", "an object", v);
  for (const auto& item : v.items()) {
    const auto& k = item.key();
    if (k != "mode" && k != "instructions" && k != "style")
      return "ai: unknown field: " + shown_name(k);
    if (!item.value().is_string()) return must_be("ai." + k, "a string", item.value());
  }
  auto mode = v.find("mode");
  if (mode == v.end()) return missing("ai.mode");
  if (*mode != "none" && *mode != "personalize" && *mode != "generate")
    return "ai.mode: expected none, personalize or generate, got " + shown_value(*mode);
  if (*mode == "generate") {
    auto ins = v.find("instructions");
    if (ins == v.end() || ins->get_ref<const std::string&>().empty())
      return "ai.instructions: required (non-empty) with mode \"generate\"";
  }
  return {};
}

// The ai field, already checked by check_unsupported().
void read_ai(const ojson& doc, request& r) {
  auto v = doc.find("ai");
  if (v == doc.end()) return;
  const std::string mode = v->at("mode").get<std::string>();
  if (mode == "none") return;
  request::ai_request a;
  a.mode = mode;
  if (auto i = v->find("instructions"); i != v->end()) a.instructions = i->get<std::string>();
  if (auto st = v->find("style"); st != v->end()) a.style = st->get<std::string>();
  r.ai = std::move(a);
}

std::string read_request(const ojson& doc, const limits& lim, clock::time_point now, request& r) {
  if (auto it = doc.find("schema");
      it != doc.end() && (!it->is_string() || it->get_ref<const std::string&>() != schema_id))
    return "schema: unsupported value " + shown_value(*it) + " (expected \"iaposte.request.v1\")";

  for (const auto& item : doc.items()) {
    const auto& key = item.key();
    if (std::find(std::begin(supported_fields), std::end(supported_fields), key) !=
        std::end(supported_fields))
      continue;
    if (std::find(std::begin(unsupported_fields), std::end(unsupported_fields), key) ==
        std::end(unsupported_fields))
      return "unknown field: " + shown_name(key);
    if (auto e = check_unsupported(key, item.value()); !e.empty()) return e;
  }

  read_ai(doc, r);

  auto id = doc.find("request_id");
  if (id == doc.end()) return missing("request_id");
  if (!id->is_string()) return must_be("request_id", "a string", *id);
  r.request_id = id->get<std::string>();
  if (!valid_request_id(r.request_id))
    return "request_id: invalid value " + quote(r.request_id) +
           " (expected 1-128 of [A-Za-z0-9._:@-])";

  auto tenant = doc.find("tenant");
  if (tenant == doc.end()) return missing("tenant");
  if (!tenant->is_string()) return must_be("tenant", "a string", *tenant);
  r.tenant = tenant->get<std::string>();
  if (!valid_tenant(r.tenant))
    return "tenant: invalid value " + quote(r.tenant) + " (expected 1-64 of [a-z0-9_-])";

  auto from = doc.find("from");
  if (from == doc.end()) return missing("from");
  if (auto e = read_address(*from, "from", r.from); !e.empty()) return e;

  for (auto [field, list] :
       {std::pair{"to", &r.to}, std::pair{"cc", &r.cc}, std::pair{"bcc", &r.bcc}})
    if (auto it = doc.find(field); it != doc.end())
      if (auto e = read_recipients(*it, field, *list); !e.empty()) return e;

  if (auto it = doc.find("reply_to"); it != doc.end()) {
    if (it->is_array()) return must_be("reply_to", "one address", *it);
    address a;
    if (auto e = read_address(*it, "reply_to", a); !e.empty()) return e;
    r.reply_to = std::move(a);
  }

  if (auto it = doc.find("contact_id"); it != doc.end())
    if (auto e = read_contact_ref(*it, "contact_id", r.contact_id); !e.empty()) return e;
  auto recipients = r.to.size() + r.cc.size() + r.bcc.size();
  if (recipients == 0 && !r.contact_id.empty()) {
    // The contact alone: the recipient as well.
    address a;
    a.contact = r.contact_id;
    r.to.push_back(std::move(a));
    recipients = 1;
  }
  if (recipients == 0) return "no recipient: to, cc and bcc are all empty";
  if (recipients > lim.max_recipients)
    return "too many recipients: " + std::to_string(recipients) + " > " +
           std::to_string(lim.max_recipients);

  if (auto it = doc.find("template"); it != doc.end()) {
    if (auto e = read_template(*it, r); !e.empty()) return e;
    // The stored version is the content: inline parts would be a second, ignored one.
    for (const char* inline_part : {"subject", "text", "html", "markdown"})
      if (doc.contains(inline_part))
        return std::string("template and ") + inline_part + " are exclusive";
  } else {
    if (!doc.contains("subject")) return missing("subject");
    if (auto e = read_text(doc, "subject", true, r.subject); !e.empty()) return e;
    if (auto e = read_text(doc, "text", false, r.text); !e.empty()) return e;
    if (auto e = read_text(doc, "html", false, r.html); !e.empty()) return e;
    if (auto e = read_text(doc, "markdown", false, r.markdown); !e.empty()) return e;
    if (r.text.empty() && r.html.empty() && r.markdown.empty())
      return "no content: text, html and markdown are all empty";
    auto body = r.subject.size() + r.text.size() + r.html.size() + r.markdown.size();
    if (body > lim.max_body_bytes)
      return "body too large: " + std::to_string(body) + " bytes > " +
             std::to_string(lim.max_body_bytes);
  }

  if (auto it = doc.find("variables"); it != doc.end())
    if (auto e = read_variables(*it, r, r.tmpl.has_value()); !e.empty()) return e;
  if (auto it = doc.find("category"); it != doc.end()) {
    if (*it == "transactional")
      r.category = mail_category::transactional;
    else if (*it == "marketing")
      r.category = mail_category::marketing;
    else
      return "category: expected transactional or marketing, got " + shown_value(*it);
  }
  if (auto it = doc.find("list"); it != doc.end()) {
    if (!it->is_string() || !valid_template_name(it->get_ref<const std::string&>()))
      return "list: expected 1-100 of [a-z0-9_.-], got " + shown_value(*it);
    r.list = it->get<std::string>();
  }
  if (auto it = doc.find("unsubscribe"); it != doc.end())
    if (auto e = read_unsubscribe(*it, r); !e.empty()) return e;
  if (auto it = doc.find("attachments"); it != doc.end()) {
    if (auto e =
            read_attachments(*it, lim.max_attachments, lim.max_attachment_bytes, r.attachments);
        !e.empty())
      return e;
    // Inline HTML: its cid: references are checked now (a template's or Markdown's once
    // rendered, by the content stage).
    if (!r.tmpl && r.markdown.empty())
      if (auto e = check_inline_references(r.html, r.attachments); !e.empty()) return e;
  }
  if (auto it = doc.find("headers"); it != doc.end())
    if (auto e = read_headers(*it, r); !e.empty()) return e;
  if (auto it = doc.find("tags"); it != doc.end())
    if (auto e = read_tags(*it, r); !e.empty()) return e;
  if (auto it = doc.find("metadata"); it != doc.end()) {
    if (!it->is_object()) return must_be("metadata", "an object", *it);
    if (auto size = it->dump().size(); size > lim.max_metadata_bytes)
      return "metadata too large: " + std::to_string(size) + " bytes > " +
             std::to_string(lim.max_metadata_bytes);
    r.metadata = nlohmann::json(*it);
  }

  if (auto e = read_time(doc, "send_at", r.send_at); !e.empty()) return e;
  if (auto e = read_time(doc, "expires_at", r.expires_at); !e.empty()) return e;
  if (r.expires_at && *r.expires_at <= now)
    return "expired: expires_at " + format_time(*r.expires_at) + " is in the past";
  if (r.expires_at && r.send_at && *r.expires_at <= *r.send_at)
    return "expires_at is not after send_at";
  return {};
}

// "[json.exception.parse_error.101] parse error at line 1, column 18: syntax error ..." → the tail.
std::string json_error_detail(const char* what) {
  std::string_view s(what);
  auto at = s.find("column ");
  auto colon = at == std::string_view::npos ? s.find(": ") : s.find(": ", at);
  if (colon != std::string_view::npos) s.remove_prefix(colon + 2);
  return std::string(s);
}

// Where byte `at` of a JSON text falls: the path of the string token holding it
// ("subject", "to[0].name", "variables.nom"), whether that string is a field name, and the
// byte offset inside the string's decoded value. Found by a light scan of the structure
// that trusts everything before `at` (it is the first invalid byte); `found` is false when
// `at` is not inside a string.
struct json_spot {
  bool found = false;
  bool in_name = false;
  std::string path;
  std::size_t offset = 0;
};

// The value of the (up to) four hex digits of a \\u escape starting at raw[from].
unsigned hex4(std::string_view raw, std::size_t from) {
  unsigned v = 0;
  for (std::size_t k = from; k < from + 4 && k < raw.size(); ++k) {
    const char c = static_cast<char>(raw[k] | 0x20);
    v = v * 16 + static_cast<unsigned>(c >= '0' && c <= '9'   ? c - '0'
                                       : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                              : 0);
  }
  return v;
}

// Bytes a \\u escape adds to the decoded UTF-8: a surrogate pair's first half counts the
// pair's four, its second half none.
std::size_t escaped_length(unsigned v) {
  if (v >= 0xD800 && v < 0xDC00) return 4;
  if (v >= 0xDC00 && v < 0xE000) return 0;
  return v < 0x80 ? 1 : v < 0x800 ? 2 : 3;
}

json_spot locate_in_json(std::string_view raw, std::size_t at) {
  struct frame {
    bool object;
    std::string name; // object: the current field's name
    std::size_t index = 0;
    bool expect_name = true;
  };
  std::vector<frame> stack;
  auto path_of = [&stack] {
    std::string path;
    for (const auto& f : stack) {
      if (!f.object)
        path += "[" + std::to_string(f.index) + "]";
      else if (!f.expect_name)
        path += (path.empty() ? "" : ".") + shown_name(f.name);
    }
    return path;
  };
  json_spot spot;
  for (std::size_t i = 0; i < raw.size() && i <= at;) {
    const char c = raw[i];
    if (c == '{' || c == '[') {
      stack.push_back(frame{c == '{', {}, 0, true});
      ++i;
    } else if (c == '}' || c == ']') {
      if (!stack.empty()) stack.pop_back();
      ++i;
    } else if (c == ',') {
      if (!stack.empty()) {
        ++stack.back().index;
        stack.back().expect_name = true;
      }
      ++i;
    } else if (c == ':') {
      if (!stack.empty()) stack.back().expect_name = false;
      ++i;
    } else if (c == '"') {
      const bool is_name = !stack.empty() && stack.back().object && stack.back().expect_name;
      std::string decoded_name;
      std::size_t decoded = 0; // bytes of the value before position j
      std::size_t j = i + 1;
      while (j < raw.size() && raw[j] != '"') {
        if (j == at) {
          spot.found = true;
          spot.in_name = is_name;
          spot.path = path_of();
          spot.offset = decoded;
          return spot;
        }
        if (raw[j] != '\\') {
          if (is_name) decoded_name += raw[j];
          ++decoded;
          ++j;
        } else if (j + 1 < raw.size() && raw[j + 1] == 'u') {
          decoded += escaped_length(hex4(raw, j + 2));
          if (is_name) decoded_name += '?';
          j += 6;
        } else {
          if (is_name && j + 1 < raw.size()) decoded_name += raw[j + 1];
          ++decoded;
          j += 2;
        }
      }
      if (is_name) stack.back().name = std::move(decoded_name);
      i = j + 1;
    } else {
      ++i; // white space, numbers, true/false/null
    }
  }
  return spot;
}

// The reason for a request that is not valid UTF-8 at byte `at`.
std::string invalid_utf8_reason(std::string_view raw, std::size_t at) {
  auto spot = locate_in_json(raw, at);
  if (!spot.found)
    return "malformed JSON: not valid UTF-8 at byte " + std::to_string(at) + " of the request";
  if (spot.in_name)
    return (spot.path.empty() ? std::string("a field name") : "a field name in " + spot.path) +
           " is not valid UTF-8 (byte " + std::to_string(at) + " of the request)";
  return (spot.path.empty() ? std::string("value") : spot.path) + ": not valid UTF-8 at byte " +
         std::to_string(spot.offset);
}

} // namespace

parse_result parse_request(std::string_view raw, const limits& lim) {
  return parse_request(raw, lim, clock::now());
}

parse_result parse_request(std::string_view raw, const limits& lim, clock::time_point now) {
  parse_result res;
  if (raw.size() > lim.max_request_bytes) {
    res.error = "request too large: " + std::to_string(raw.size()) + " bytes > " +
                std::to_string(lim.max_request_bytes);
    return res;
  }
  // Before the JSON parser, whose error would only say "ill-formed UTF-8 byte": name the
  // field, as for every other invalid value.
  if (auto bad = invalid_utf8_at(raw); bad != std::string_view::npos) {
    // What identifies the request is still recovered, from a copy with the invalid
    // sequences replaced (U+FFFD), so that its producer can match the rejection.
    res = parse_request(clean_text(raw, std::string_view::npos), lim, now);
    res.value.reset();
    res.error = invalid_utf8_reason(raw, bad);
    return res;
  }

  // Duplicate keys are refused: parsers disagree on which one wins, so a request
  // could mean one thing to a producer-side validator and another to us.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto watch = [&](int depth, ojson::parse_event_t event, ojson& parsed) {
    using ev = ojson::parse_event_t;
    if ((event == ev::object_start || event == ev::array_start) && depth >= max_depth)
      throw too_deep{};
    if (event == ev::object_start) open_objects.emplace_back();
    if (event == ev::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == ev::key && !open_objects.empty() &&
        !open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  ojson doc;
  try {
    doc = ojson::parse(raw.begin(), raw.end(), watch);
  } catch (const ojson::parse_error& e) {
    // The parser's message quotes what it last read: cleaned, bounded.
    res.error = clean_text("malformed JSON at byte " + std::to_string(e.byte) + ": " +
                           json_error_detail(e.what()));
    return res;
  } catch (const too_deep&) {
    res.error = "malformed JSON: nested deeper than " + std::to_string(max_depth) + " levels";
    return res;
  }
  if (!doc.is_object()) {
    res.error = std::string("request must be a JSON object (got ") + doc.type_name() + ")";
    return res;
  }

  // Whatever identifies the request is recovered first, so that even a rejected
  // request yields an event its producer can match.
  if (auto it = doc.find("request_id");
      it != doc.end() && it->is_string() && valid_request_id(it->get_ref<const std::string&>()))
    res.request_id = it->get<std::string>();
  if (auto it = doc.find("tenant");
      it != doc.end() && it->is_string() && valid_tenant(it->get_ref<const std::string&>()))
    res.tenant = it->get<std::string>();
  // Echoed in the rejected event too, unless it is what is too large.
  if (auto it = doc.find("metadata");
      it != doc.end() && it->is_object() && it->dump().size() <= lim.max_metadata_bytes)
    res.metadata = nlohmann::json(*it);

  if (!duplicate.empty()) {
    res.error = "duplicate key: " + quote(duplicate);
    return res;
  }
  request r;
  res.error = read_request(doc, lim, now, r);
  if (res.error.empty()) res.value = std::move(r);
  return res;
}

std::vector<std::string> request::envelope_recipients() const {
  // One RCPT per mailbox even when it is listed twice (say in to and bcc); the
  // domain is compared without case, the local part as is (RFC 5321 §2.4).
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto* list : {&to, &cc, &bcc}) {
    for (const auto& a : *list) {
      if (a.email.empty()) continue; // a contact not resolved yet
      // "été.fr" and "xn--t-9fab.fr" are one domain: compared in A-labels.
      if (seen.insert(idn::mailbox_key(a.email)).second) out.push_back(a.email);
    }
  }
  return out;
}

} // namespace iaposte::core
