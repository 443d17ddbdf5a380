// iaposte's commands for stored content: template, contacts, signature, suppress (PostgreSQL,
// through store::content_store).
#include "cli_content.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "content/stage.hpp"
#include "core/request.hpp"
#include "core/status.hpp"
#include "render/template.hpp"
#include "store/content.hpp"

namespace iaposte::cli {

const char* const content_usage = R"(
template put --tenant T --name N (--file JSON | [--locale L] [--subject S]
             [--text-file F] [--html-file F] [--markdown-file F])
             [--strict|--lenient] [--allow-raw-html|--no-raw-html] [--activate]
  stores a new version (numbered max + 1) and prints it; the first version of a template
  is active, a later one only with --activate. --file: {"strict": bool, "allow_raw_html":
  bool, "variants": [{"locale": "", "subject", "text", "html", "markdown"}, ...]} (what
  template get prints). Flags not given are left as they are.
template render --tenant T --name N [--version V] [--locale L] [--contact ID|EMAIL]
  [--from ADDR] [--vars JSON | --vars-file FILE]
  prints the message the daemon would compose (a preview: the contact's fields, the sender's
  signature, the same content stage; no DKIM). Exit 1 when it would be rejected, with why.
template get --tenant T --name N [--version V] [--locale L]
  prints the version (the active one by default) as JSON; with --locale, only the variant
  that locale gets (fr-ca, then fr, then the default)
template list --tenant T        one JSON line per template
template activate --tenant T --name N --version V
contacts import --tenant T FILE.csv     (- for stdin)
  CSV with a header row: email,name,company,locale and any other column as an attribute.
  All rows or none: on any bad row, prints FILE:LINE: error (the first 20) and exits 1.
contacts export --tenant T [--out FILE]   the same format (default: stdout)
contacts get|delete --tenant T (--id N | --email ADDR)
signature set --tenant T [--sender ADDR] [--html-file F] [--text-file F]
  without --sender: the tenant's default signature
signature show --tenant T [--sender ADDR]
  prints the signature that applies (the sender's, else the tenant's default)
suppress add --tenant T --address A [--reason R] [--list L] [--note TEXT]
  R: hard_bounce | complaint | unsubscribe | manual (default); L: '' (default) = every list
suppress remove --tenant T --address A [--list L] [--reason R]
  removes the entry of list L (only when its reason is R, if given)
suppress list --tenant T [--reason R]   one JSON line per entry
suppress check --tenant T --address A [--category transactional|marketing] [--list L]
  prints the entry that stops such mail to A; exit 1 when none does
  exit (all of the above): 0 done, 1 not found or PostgreSQL unreachable, 2 usage
)";

namespace {

using nlohmann::json;

// --- arguments -----------------------------------------------------------------------------

struct options {
  std::map<std::string, std::string> values;
  std::set<std::string> flags;
  std::vector<std::string> positional;

  bool has(const std::string& k) const { return values.count(k) || flags.count(k); }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
  std::string need(const std::string& k) const {
    auto it = values.find(k);
    if (it == values.end()) throw std::invalid_argument(k + " is required");
    return it->second;
  }
};

struct spec {
  std::set<std::string> valued;
  std::set<std::string> flags;
  std::size_t positional = 0;
};

// Every command takes these too.
const std::set<std::string> common_valued = {"--database-url"};

options parse(int argc, char** argv, const spec& s) {
  options o;
  for (int i = 3; i < argc; ++i) {
    const std::string k = argv[i];
    if (k.rfind("--", 0) == 0) {
      if (s.flags.count(k) || k == "--help") {
        o.flags.insert(k);
      } else if (s.valued.count(k) || common_valued.count(k)) {
        if (i + 1 >= argc) throw std::invalid_argument("option " + k + " needs a value");
        if (o.values.count(k)) throw std::invalid_argument("option " + k + " given twice");
        o.values[k] = argv[++i];
      } else {
        throw std::invalid_argument("unknown option " + k + " (iaposte --help lists them)");
      }
    } else if (o.positional.size() < s.positional) {
      o.positional.push_back(k);
    } else {
      throw std::invalid_argument("unexpected argument " + k);
    }
  }
  return o;
}

std::string database_url(const options& o) {
  std::string url = o.get("--database-url");
  if (url.empty())
    if (const char* env = std::getenv("DATABASE_URL")) url = env;
  if (url.empty()) throw std::invalid_argument("--database-url or DATABASE_URL is required");
  return url;
}

std::string read_file(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) throw std::invalid_argument("cannot read " + path);
    in = &file;
  }
  std::stringstream all;
  all << in->rdbuf();
  return all.str();
}

int positive(const std::string& option, const std::string& value) {
  std::size_t used = 0;
  long v = 0;
  try {
    v = std::stol(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || v < 1 || v > 1'000'000'000)
    throw std::invalid_argument(option + " expects a positive number, got '" + value + "'");
  return static_cast<int>(v);
}

bool help(const options& o) {
  if (!o.flags.count("--help")) return false;
  std::cout << content_usage;
  return true;
}

[[noreturn]] void unknown_subcommand(const std::string& command, const std::string& expected) {
  throw std::invalid_argument("expected " + expected + " after '" + command + "'");
}

std::string subcommand(int argc, char** argv, const std::string& expected) {
  const std::string sub = argc >= 3 ? argv[2] : "";
  if (sub.empty() || sub.rfind("--", 0) == 0) unknown_subcommand(argv[1], expected);
  return sub;
}

// --- templates -----------------------------------------------------------------------------

// The render library's syntax check: `template put` refuses a version that would not render.
store::template_validator validator() {
  return [](const store::template_parts& p, const store::template_flags&) {
    return render::validate({p.subject, p.text, p.html, p.markdown});
  };
}

std::optional<bool> flag_pair(const options& o, const std::string& on, const std::string& off) {
  if (o.flags.count(on) && o.flags.count(off))
    throw std::invalid_argument(on + " and " + off + " contradict each other");
  if (o.flags.count(on)) return true;
  if (o.flags.count(off)) return false;
  return std::nullopt;
}

std::string string_field(const json& j, const std::string& key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return "";
  if (!j[key].is_string()) throw std::invalid_argument(where + ": " + key + " must be a string");
  return j[key].get<std::string>();
}

// The --file document: what template get prints (its read-only keys are ignored).
void read_template_file(const std::string& path, store::template_put& t) {
  const json doc = json::parse(read_file(path), nullptr, false);
  if (!doc.is_object()) throw std::invalid_argument(path + ": not a JSON object");
  static const std::set<std::string> ignored = {"tenant", "name", "version", "active_version",
                                                "created_at"};
  for (const auto& [k, v] : doc.items()) {
    if (k == "strict" || k == "allow_raw_html") {
      if (!v.is_boolean()) throw std::invalid_argument(path + ": " + k + " must be true or false");
      (k == "strict" ? t.strict : t.allow_raw_html) = v.get<bool>();
    } else if (k == "variants") {
      if (!v.is_array()) throw std::invalid_argument(path + ": variants must be an array");
      for (const auto& item : v) {
        if (!item.is_object())
          throw std::invalid_argument(path + ": each variant must be an object");
        for (const auto& [field, value] : item.items())
          if (field != "locale" && field != "subject" && field != "text" && field != "html" &&
              field != "markdown")
            throw std::invalid_argument(path + ": unknown variant field " + field);
        const std::string where = path + ": variant";
        t.variants.push_back({string_field(item, "locale", where),
                              string_field(item, "subject", where),
                              string_field(item, "text", where), string_field(item, "html", where),
                              string_field(item, "markdown", where)});
      }
    } else if (!ignored.count(k)) {
      throw std::invalid_argument(path + ": unknown field " + k);
    }
  }
  if (t.variants.empty()) throw std::invalid_argument(path + ": no variants");
}

json variant_json(const store::template_parts& p) {
  return {{"locale", p.locale},
          {"subject", p.subject},
          {"text", p.text},
          {"html", p.html},
          {"markdown", p.markdown}};
}

int template_put(const options& o) {
  store::template_put t;
  t.tenant = o.need("--tenant");
  t.name = o.need("--name");
  t.strict = flag_pair(o, "--strict", "--lenient");
  t.allow_raw_html = flag_pair(o, "--allow-raw-html", "--no-raw-html");
  t.activate = o.flags.count("--activate") > 0;
  if (o.has("--file")) {
    for (const char* k : {"--locale", "--subject", "--text-file", "--html-file", "--markdown-file"})
      if (o.has(k))
        throw std::invalid_argument(std::string("--file and ") + k + " exclude each other");
    const auto strict = t.strict, raw = t.allow_raw_html;
    read_template_file(o.get("--file"), t);
    if (strict) t.strict = strict; // the command line wins over the file
    if (raw) t.allow_raw_html = raw;
  } else {
    if (!o.has("--text-file") && !o.has("--html-file") && !o.has("--markdown-file"))
      throw std::invalid_argument("give --text-file, --html-file or --markdown-file (or --file)");
    store::template_parts p;
    p.locale = o.get("--locale");
    p.subject = o.get("--subject");
    if (o.has("--text-file")) p.text = read_file(o.get("--text-file"));
    if (o.has("--html-file")) p.html = read_file(o.get("--html-file"));
    if (o.has("--markdown-file")) p.markdown = read_file(o.get("--markdown-file"));
    t.variants.push_back(std::move(p));
  }
  store::content_store db(database_url(o));
  const int version = db.put_template(t, validator());
  const auto stored = db.get_template(t.tenant, t.name, version);
  std::cout << json{{"tenant", t.tenant},
                    {"name", t.name},
                    {"version", version},
                    {"active_version", stored.active_version}}
                   .dump()
            << "\n";
  return 0;
}

int template_get(const options& o) {
  const std::string tenant = o.need("--tenant"), name = o.need("--name");
  std::optional<int> version;
  if (o.has("--version")) version = positive("--version", o.get("--version"));
  store::content_store db(database_url(o));
  const auto v = db.get_template(tenant, name, version);
  json variants = json::array();
  if (o.has("--locale")) {
    const auto* p = store::pick_variant(v.variants, {o.get("--locale")});
    if (!p) {
      std::cerr << "iaposte template: version " << v.version << " of '" << name
                << "' has no variant for " << o.get("--locale") << " and no default variant\n";
      return 1;
    }
    variants.push_back(variant_json(*p));
  } else {
    for (const auto& p : v.variants)
      variants.push_back(variant_json(p));
  }
  std::cout << json{{"tenant", v.tenant},
                    {"name", v.name},
                    {"version", v.version},
                    {"active_version", v.active_version},
                    {"strict", v.flags.strict},
                    {"allow_raw_html", v.flags.allow_raw_html},
                    {"created_at", core::format_time(v.created_at)},
                    {"variants", variants}}
                   .dump(2)
            << "\n";
  return 0;
}

// A preview: the message the daemon would compose for these variables (and contact), through
// the same content stage, without DKIM (the keys are the daemon's).
int template_render(const options& o) {
  if (o.has("--vars") && o.has("--vars-file"))
    throw std::invalid_argument("--vars and --vars-file exclude each other");
  json vars = json::object();
  if (o.has("--vars") || o.has("--vars-file")) {
    vars = json::parse(o.has("--vars") ? o.get("--vars") : read_file(o.get("--vars-file")), nullptr,
                       false);
    if (!vars.is_object()) throw std::invalid_argument("the variables must be a JSON object");
  }
  const std::string tenant = o.need("--tenant"), name = o.need("--name");
  json request = {{"request_id", "preview"},
                  {"tenant", tenant},
                  {"from", o.get("--from", "preview@" + tenant + ".invalid")},
                  {"template", {{"name", name}}},
                  {"variables", vars}};
  if (o.has("--version"))
    request["template"]["version"] = positive("--version", o.get("--version"));
  if (o.has("--locale")) request["template"]["locale"] = o.get("--locale");
  if (o.has("--contact"))
    request["contact_id"] = o.get("--contact");
  else
    request["to"] = "preview@" + tenant + ".invalid";
  auto parsed = core::parse_request(request.dump(), core::limits{});
  if (!parsed.ok()) throw std::invalid_argument(parsed.error);
  core::request& req = *parsed.value;

  // What content_lookup gives the daemon, read here synchronously.
  store::content_store db(database_url(o));
  store::content_answer stored;
  if (!req.contact_id.empty()) {
    const bool id = std::all_of(req.contact_id.begin(), req.contact_id.end(),
                                [](char c) { return c >= '0' && c <= '9'; });
    stored.contacts.push_back(id ? db.find_contact(tenant, std::stoll(req.contact_id))
                                 : db.find_contact(tenant, req.contact_id));
  }
  const auto v = db.get_template(tenant, name, req.tmpl->version);
  std::vector<std::string> locales;
  if (!req.tmpl->locale.empty()) locales.push_back(req.tmpl->locale);
  if (!stored.contacts.empty() && stored.contacts.front() &&
      !stored.contacts.front()->locale.empty())
    locales.push_back(stored.contacts.front()->locale);
  const auto* parts = store::pick_variant(v.variants, locales);
  if (!parts) {
    std::cerr << "iaposte template: version " << v.version << " of '" << name
              << "' has no variant for these locales and no default variant\n";
    return 1;
  }
  stored.tmpl = store::resolved_template{name, v.version, v.flags, *parts};
  stored.sig = db.get_signature(tenant, req.from.email);

  content::stage stage(content::stage_config{});
  auto draft = stage.render(req, stored);
  if (!draft.ok()) {
    std::cerr << "iaposte template: " << draft.rejection << "\n";
    return 1;
  }
  auto done = stage.finish(req, draft.content, stage.message_id(req), core::clock::now());
  if (!done.rejection.empty()) {
    std::cerr << "iaposte template: " << done.rejection << "\n";
    return 1;
  }
  std::cout << done.message;
  return 0;
}

int template_list(const options& o) {
  const std::string tenant = o.need("--tenant");
  store::content_store db(database_url(o));
  for (const auto& t : db.list_templates(tenant))
    std::cout << json{{"name", t.name},
                      {"active_version", t.active_version},
                      {"latest_version", t.latest_version},
                      {"locales", t.locales},
                      {"strict", t.flags.strict},
                      {"allow_raw_html", t.flags.allow_raw_html},
                      {"updated_at", core::format_time(t.updated_at)}}
                     .dump()
              << "\n";
  return 0;
}

int template_activate(const options& o) {
  const std::string tenant = o.need("--tenant"), name = o.need("--name");
  const int version = positive("--version", o.need("--version"));
  store::content_store db(database_url(o));
  db.activate_template(tenant, name, version);
  return 0;
}

// --- contacts ------------------------------------------------------------------------------

json contact_json(const store::contact& c) {
  return {{"id", c.id},
          {"tenant", c.tenant},
          {"email", c.email},
          {"name", c.name},
          {"company", c.company},
          {"locale", c.locale},
          {"attributes", c.attributes},
          {"created_at", core::format_time(c.created_at)},
          {"updated_at", core::format_time(c.updated_at)}};
}

// Errors shown before "... and N more".
constexpr std::size_t errors_shown = 20;

int contacts_import(const options& o) {
  const std::string tenant = o.need("--tenant");
  if (o.positional.empty()) throw std::invalid_argument("import expects a FILE.csv (or -)");
  const std::string path = o.positional[0];
  const std::string text = read_file(path);
  store::content_store db(database_url(o));
  const auto r = db.import_contacts(tenant, text, errors_shown);
  if (r.error_count > 0) {
    const std::string name = path == "-" ? "<stdin>" : path;
    for (const auto& e : r.errors)
      std::cerr << name << ":" << e.line << ": " << e.message << "\n";
    if (r.error_count > r.errors.size())
      std::cerr << "... and " << r.error_count - r.errors.size() << " more\n";
    std::cerr << "iaposte contacts: nothing imported (" << r.error_count << " error"
              << (r.error_count == 1 ? "" : "s") << ")\n";
    return 1;
  }
  std::cout << "imported " << r.rows << " row" << (r.rows == 1 ? "" : "s") << ": " << r.inserted
            << " inserted, " << r.updated << " updated, " << r.unchanged << " unchanged\n";
  return 0;
}

int contacts_export(const options& o) {
  const std::string tenant = o.need("--tenant");
  store::content_store db(database_url(o));
  if (!o.has("--out")) {
    db.export_contacts(tenant, std::cout);
    return 0;
  }
  // Written beside the target, then renamed: a failed export never leaves half a file.
  const std::filesystem::path out = o.get("--out");
  const std::filesystem::path tmp = out.string() + ".tmp";
  std::size_t n = 0;
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    if (!file) throw std::invalid_argument("cannot write " + tmp.string());
    try {
      n = db.export_contacts(tenant, file);
    } catch (...) {
      file.close();
      std::filesystem::remove(tmp);
      throw;
    }
  }
  std::filesystem::rename(tmp, out);
  std::cerr << "exported " << n << " contact" << (n == 1 ? "" : "s") << " to " << out.string()
            << "\n";
  return 0;
}

int contacts_one(const std::string& sub, const options& o) {
  const std::string tenant = o.need("--tenant");
  if (o.has("--id") == o.has("--email")) throw std::invalid_argument("give --id or --email");
  std::optional<std::int64_t> id;
  if (o.has("--id")) id = positive("--id", o.get("--id"));
  store::content_store db(database_url(o));
  if (sub == "delete") {
    const bool gone =
        id ? db.delete_contact(tenant, *id) : db.delete_contact(tenant, o.get("--email"));
    if (!gone) {
      std::cerr << "iaposte contacts: no such contact\n";
      return 1;
    }
    return 0;
  }
  const auto c = id ? db.find_contact(tenant, *id) : db.find_contact(tenant, o.get("--email"));
  if (!c) {
    std::cerr << "iaposte contacts: no such contact\n";
    return 1;
  }
  std::cout << contact_json(*c).dump(2) << "\n";
  return 0;
}

// --- signatures ----------------------------------------------------------------------------

int signature_set(const options& o) {
  store::signature s;
  s.tenant = o.need("--tenant");
  s.sender = o.get("--sender");
  if (!o.has("--html-file") && !o.has("--text-file"))
    throw std::invalid_argument("give --html-file or --text-file (or both)");
  if (o.has("--html-file")) s.html = read_file(o.get("--html-file"));
  if (o.has("--text-file")) s.text = read_file(o.get("--text-file"));
  store::content_store db(database_url(o));
  db.set_signature(s);
  return 0;
}

int signature_show(const options& o) {
  const std::string tenant = o.need("--tenant");
  store::content_store db(database_url(o));
  const auto s = db.get_signature(tenant, o.get("--sender"), true);
  if (!s) {
    std::cerr << "iaposte signature: none for this sender, and no tenant default\n";
    return 1;
  }
  std::cout << json{{"tenant", s->tenant},
                    {"sender", s->sender},
                    {"html", s->html},
                    {"text", s->text},
                    {"updated_at", core::format_time(s->updated_at)}}
                   .dump(2)
            << "\n";
  return 0;
}

// --- suppressions --------------------------------------------------------------------------

store::suppression_reason reason_of(const std::string& value) {
  const auto r = store::suppression_reason_from(value);
  if (!r)
    throw std::invalid_argument("--reason must be hard_bounce, complaint, unsubscribe or manual, "
                                "got '" +
                                value + "'");
  return *r;
}

json suppression_json(const store::suppression& s) {
  json j{{"tenant", s.tenant},
         {"address", s.address},
         {"reason", store::to_string(s.reason)},
         {"list", s.list},
         {"since", core::format_time(s.since)},
         {"note", s.note}};
  if (!s.source_request_id.empty()) j["source_request_id"] = s.source_request_id;
  return j;
}

int suppress_add(const options& o) {
  store::suppression s;
  s.tenant = o.need("--tenant");
  s.address = o.need("--address");
  s.reason = reason_of(o.get("--reason", "manual"));
  s.list = o.get("--list");
  s.note = o.get("--note");
  store::content_store db(database_url(o));
  std::cout << suppression_json(db.add_suppression(s)).dump() << "\n";
  return 0;
}

int suppress_remove(const options& o) {
  const std::string tenant = o.need("--tenant"), address = o.need("--address");
  std::optional<store::suppression_reason> reason;
  if (o.has("--reason")) reason = reason_of(o.get("--reason"));
  store::content_store db(database_url(o));
  if (!db.remove_suppression(tenant, address, o.get("--list"), reason)) {
    std::cerr << "iaposte suppress: no such entry\n";
    return 1;
  }
  return 0;
}

int suppress_list(const options& o) {
  const std::string tenant = o.need("--tenant");
  std::optional<store::suppression_reason> reason;
  if (o.has("--reason")) reason = reason_of(o.get("--reason"));
  store::content_store db(database_url(o));
  for (const auto& s : db.list_suppressions(tenant, reason))
    std::cout << suppression_json(s).dump() << "\n";
  return 0;
}

int suppress_check(const options& o) {
  const std::string tenant = o.need("--tenant"), address = o.need("--address");
  const auto category = store::mail_category_from(o.get("--category", "transactional"));
  if (!category)
    throw std::invalid_argument("--category must be transactional or marketing, got '" +
                                o.get("--category") + "'");
  store::content_store db(database_url(o));
  const auto s = db.is_suppressed(tenant, address, *category, o.get("--list"));
  if (!s) {
    std::cerr << "iaposte suppress: " << store::to_string(*category) << " mail to " << address
              << " is not suppressed\n";
    return 1;
  }
  std::cout << suppression_json(*s).dump() << "\n";
  return 0;
}

} // namespace

int template_command(int argc, char** argv) {
  const std::string sub = subcommand(argc, argv, "put, get, list, render or activate");
  if (sub == "put") {
    const auto o =
        parse(argc, argv,
              {{"--tenant", "--name", "--subject", "--text-file", "--html-file", "--markdown-file",
                "--locale", "--file"},
               {"--strict", "--lenient", "--allow-raw-html", "--no-raw-html", "--activate"}});
    return help(o) ? 0 : template_put(o);
  }
  if (sub == "get") {
    const auto o = parse(argc, argv, {{"--tenant", "--name", "--version", "--locale"}, {}});
    return help(o) ? 0 : template_get(o);
  }
  if (sub == "list") {
    const auto o = parse(argc, argv, {{"--tenant"}, {}});
    return help(o) ? 0 : template_list(o);
  }
  if (sub == "render") {
    const auto o = parse(argc, argv,
                         {{"--tenant", "--name", "--version", "--locale", "--contact", "--from",
                           "--vars", "--vars-file"},
                          {}});
    return help(o) ? 0 : template_render(o);
  }
  if (sub == "activate") {
    const auto o = parse(argc, argv, {{"--tenant", "--name", "--version"}, {}});
    return help(o) ? 0 : template_activate(o);
  }
  unknown_subcommand("template", "put, get, list, render or activate");
}

int contacts_command(int argc, char** argv) {
  const std::string sub = subcommand(argc, argv, "import, export, get or delete");
  if (sub == "import") {
    const auto o = parse(argc, argv, {{"--tenant"}, {}, 1});
    return help(o) ? 0 : contacts_import(o);
  }
  if (sub == "export") {
    const auto o = parse(argc, argv, {{"--tenant", "--out"}, {}});
    return help(o) ? 0 : contacts_export(o);
  }
  if (sub == "get" || sub == "delete") {
    const auto o = parse(argc, argv, {{"--tenant", "--id", "--email"}, {}});
    return help(o) ? 0 : contacts_one(sub, o);
  }
  unknown_subcommand("contacts", "import, export, get or delete");
}

int signature_command(int argc, char** argv) {
  const std::string sub = subcommand(argc, argv, "set or show");
  if (sub == "set") {
    const auto o = parse(argc, argv, {{"--tenant", "--sender", "--html-file", "--text-file"}, {}});
    return help(o) ? 0 : signature_set(o);
  }
  if (sub == "show") {
    const auto o = parse(argc, argv, {{"--tenant", "--sender"}, {}});
    return help(o) ? 0 : signature_show(o);
  }
  unknown_subcommand("signature", "set or show");
}

int suppress_command(int argc, char** argv) {
  const std::string sub = subcommand(argc, argv, "add, remove, list or check");
  if (sub == "add") {
    const auto o =
        parse(argc, argv, {{"--tenant", "--address", "--reason", "--list", "--note"}, {}});
    return help(o) ? 0 : suppress_add(o);
  }
  if (sub == "remove") {
    const auto o = parse(argc, argv, {{"--tenant", "--address", "--reason", "--list"}, {}});
    return help(o) ? 0 : suppress_remove(o);
  }
  if (sub == "list") {
    const auto o = parse(argc, argv, {{"--tenant", "--reason"}, {}});
    return help(o) ? 0 : suppress_list(o);
  }
  if (sub == "check") {
    const auto o = parse(argc, argv, {{"--tenant", "--address", "--category", "--list"}, {}});
    return help(o) ? 0 : suppress_check(o);
  }
  unknown_subcommand("suppress", "add, remove, list or check");
}

} // namespace iaposte::cli
