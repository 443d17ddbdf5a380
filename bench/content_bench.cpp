// CPU per message of the content stage alone (content::stage::render + finish, as the worker
// calls them on its pool) for plain inline content, a stored template with its signature, and
// plain content signed with Ed25519 or RSA DKIM; prints one JSON object. scripts/bench runs it
// on the same requests, template, signature and keys as its daemon runs, beside
// `openssl speed rsa2048 ed25519`.
//
//   content_bench --plain FILE --template-request FILE --template FILE --signature FILE
//                 --rsa-key FILE --ed25519-key FILE [-n N] [--rounds R]
//     --plain FILE            one request with inline content (JSON, iaposte.request.v1)
//     --template-request FILE one request naming the stored template
//     --template FILE         the template as `iaposte template put --file` reads it (its
//                             default-locale variant is what the look-up would return)
//     --signature FILE        the sender's text signature (`iaposte signature set --text-file`)
//     --rsa-key, --ed25519-key  PEM private keys (`iaposte dkim keygen`), absolute paths; they
//                             sign for the plain request's tenant and From domain
//     -n N        RSA messages per measurement (default 2000); the other cases run 10 x N
//     --rounds R  rounds, alternating the four cases (default 5); each case's fastest round
//                 is reported (the machine is shared)
// Times are the CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), not wall time: a
// descheduled thread must not count. The request copies each message needs (render takes
// the request by reference and moves its attachments out) are made outside the timed loop.
// Beside the stage, the cost of core::parse_request on each request file (the worker parses
// every request before the stage; a template's structured variables make it dearer).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <time.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "content/stage.hpp"
#include "core/request.hpp"

using namespace iaposte;

namespace {

struct options {
  std::string plain, template_request, template_file, signature, rsa_key, ed_key;
  std::size_t n = 2000, rounds = 5;
};

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "content_bench: %s\n", why.c_str());
  std::exit(1);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

core::request parse(const std::string& path) {
  auto r = core::parse_request(read_file(path), core::limits{});
  if (!r.ok()) fail(path + ": " + r.error);
  return std::move(*r.value);
}

// What content_lookup answers for the template request: the version's default-locale variant
// and flags, and the sender's signature.
store::content_answer template_answer(const options& o, const core::request& req) {
  const auto j = nlohmann::json::parse(read_file(o.template_file));
  std::vector<store::template_parts> variants;
  for (const auto& v : j.at("variants"))
    variants.push_back({v.value("locale", ""), v.value("subject", ""), v.value("text", ""),
                        v.value("html", ""), v.value("markdown", "")});
  const store::template_parts* parts = store::pick_variant(variants, {});
  if (!parts) fail(o.template_file + ": no default-locale variant");
  store::content_answer a;
  a.tmpl = store::resolved_template{
      req.tmpl->name, 1,
      store::template_flags{j.value("strict", false), j.value("allow_raw_html", false)}, *parts};
  a.sig = store::signature{req.tenant, req.from.email, "", read_file(o.signature), {}};
  return a;
}

content::stage make_stage(const core::request& req, const std::string& key_file,
                          dkim::algorithm algo, const std::string& selector) {
  content::stage_config cfg;
  if (!key_file.empty()) {
    const std::string domain = req.from.email.substr(req.from.email.rfind('@') + 1);
    cfg.dkim_keys.push_back({req.tenant, dkim::key_config{domain, selector, algo, key_file, {}}});
  }
  return content::stage(std::move(cfg));
}

double thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

struct bench_case {
  std::string name;
  const content::stage* stage;
  const core::request* req;
  const store::content_answer* answer;
  std::size_t n;
  double best_us = 1e300;
  std::size_t text_octets = 0, message_octets = 0;
};

// render + finish for n copies of the request; CPU microseconds per message.
double one_round(bench_case& c) {
  std::vector<core::request> reqs(c.n, *c.req);
  std::size_t octets = 0;
  const double start = thread_cpu_us();
  for (auto& req : reqs) {
    content::draft d = c.stage->render(req, *c.answer);
    if (!d.ok()) fail(c.name + ": render: " + d.rejection);
    const std::string id = c.stage->message_id(req);
    auto f = c.stage->finish(req, d.content, id, core::clock::now());
    if (!f.rejection.empty()) fail(c.name + ": finish: " + f.rejection);
    octets += f.message.size();
    c.text_octets = d.content.text.size();
  }
  const double us = (thread_cpu_us() - start) / static_cast<double>(c.n);
  c.message_octets = octets / c.n;
  return us;
}

// core::parse_request on the raw request; CPU microseconds per parse.
double parse_round(const std::string& raw, std::size_t n) {
  std::size_t ok = 0;
  const double start = thread_cpu_us();
  for (std::size_t i = 0; i < n; ++i)
    ok += core::parse_request(raw, core::limits{}).ok();
  const double us = (thread_cpu_us() - start) / static_cast<double>(n);
  if (ok != n) fail("a request did not parse");
  return us;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  const std::map<std::string, std::string*> files = {{"--plain", &o.plain},
                                                     {"--template-request", &o.template_request},
                                                     {"--template", &o.template_file},
                                                     {"--signature", &o.signature},
                                                     {"--rsa-key", &o.rsa_key},
                                                     {"--ed25519-key", &o.ed_key}};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) fail(a + " needs a value (see the header of bench/content_bench.cpp)");
    const std::string v = argv[++i];
    if (auto it = files.find(a); it != files.end())
      *it->second = v;
    else if (a == "-n")
      o.n = std::strtoull(v.c_str(), nullptr, 10);
    else if (a == "--rounds")
      o.rounds = std::strtoull(v.c_str(), nullptr, 10);
    else
      fail("unknown argument " + a + " (see the header of bench/content_bench.cpp)");
  }
  for (const auto& [flag, value] : files)
    if (value->empty()) fail(flag + " is required");
  if (o.n == 0 || o.rounds == 0) fail("-n and --rounds must be positive");

  try {
    const core::request plain = parse(o.plain);
    const core::request tpl = parse(o.template_request);
    if (!tpl.tmpl) fail(o.template_request + ": no template");
    const store::content_answer none, stored = template_answer(o, tpl);
    const content::stage no_keys = make_stage(plain, "", dkim::algorithm::rsa_sha256, "");
    const content::stage ed =
        make_stage(plain, o.ed_key, dkim::algorithm::ed25519_sha256, "bench-ed25519");
    const content::stage rsa =
        make_stage(plain, o.rsa_key, dkim::algorithm::rsa_sha256, "bench-rsa");

    const std::size_t per_round = std::max<std::size_t>(o.n / o.rounds, 1);
    std::vector<bench_case> cases = {{"plain", &no_keys, &plain, &none, 10 * per_round},
                                     {"template", &no_keys, &tpl, &stored, 10 * per_round},
                                     {"ed25519", &ed, &plain, &none, 10 * per_round},
                                     {"rsa", &rsa, &plain, &none, per_round}};
    // Warm-up: the template compiled into the stage's cache (as after the daemon's first
    // request), OpenSSL's lazy initialisation, the allocator's arenas.
    for (auto& c : cases) {
      bench_case w = c;
      w.n = 20;
      one_round(w);
    }
    for (std::size_t r = 0; r < o.rounds; ++r)
      for (auto& c : cases)
        c.best_us = std::min(c.best_us, one_round(c));
    const std::string plain_raw = read_file(o.plain), tpl_raw = read_file(o.template_request);
    double parse_plain = 1e300, parse_tpl = 1e300;
    for (std::size_t r = 0; r < o.rounds; ++r) {
      parse_plain = std::min(parse_plain, parse_round(plain_raw, 10 * per_round));
      parse_tpl = std::min(parse_tpl, parse_round(tpl_raw, 10 * per_round));
    }

    nlohmann::ordered_json out, us, text, msg, n;
    for (const auto& c : cases) {
      us[c.name] = std::round(c.best_us * 10) / 10;
      text[c.name] = c.text_octets;
      msg[c.name] = c.message_octets;
      n[c.name] = c.n * o.rounds;
    }
    out["us_per_message"] = us;
    out["text_octets"] = text;
    out["message_octets"] = msg;
    out["parse_us"] = {{"plain", std::round(parse_plain * 10) / 10},
                       {"template", std::round(parse_tpl * 10) / 10}};
    out["request_octets"] = {{"plain", plain_raw.size()}, {"template", tpl_raw.size()}};
    out["messages"] = n;
    out["rounds"] = o.rounds;
    std::printf("%s\n", out.dump().c_str());
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return 0;
}
