// libFuzzer target for EHLO capability parsing (parse_ehlo in lib/smtp/reply.hpp): arbitrary
// reply lines, as the reply parser hands them over and as raw lines it would refuse.
//
// Checked beyond "no crash, no sanitizer report":
//  - keywords and parameters are case-insensitive: upper-casing every line changes nothing;
//  - the first line (the server's domain and greeting) is never read as a capability, and a
//    reply of one line advertises nothing.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/reply.hpp"

using iaposte::smtp::capabilities;
using iaposte::smtp::parse_ehlo;
using iaposte::smtp::reply;
using iaposte::smtp::reply_parser;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_ehlo: property broken: %s\n", what);
  std::abort();
}
#define EXPECT(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) fail(#cond);                                                                      \
  } while (0)

bool same(const capabilities& a, const capabilities& b) {
  return a.starttls == b.starttls && a.pipelining == b.pipelining &&
         a.eightbitmime == b.eightbitmime && a.smtputf8 == b.smtputf8 &&
         a.enhanced_status_codes == b.enhanced_status_codes && a.size == b.size &&
         a.auth_plain == b.auth_plain && a.auth_login == b.auth_login &&
         a.auth_xoauth2 == b.auth_xoauth2;
}

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

void check(const reply& r) {
  capabilities caps = parse_ehlo(r);
  reply up = r;
  for (auto& l : up.lines)
    l = upper(l);
  EXPECT(same(parse_ehlo(up), caps));
  if (!r.lines.empty()) {
    reply other = r;
    other.lines[0] = "STARTTLS PIPELINING SIZE 1 AUTH PLAIN LOGIN XOAUTH2 8BITMIME SMTPUTF8";
    EXPECT(same(parse_ehlo(other), caps));
  }
  if (r.lines.size() <= 1) EXPECT(same(caps, capabilities{}));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);

  // Raw lines: whatever bytes lie between LFs (a trailing CR dropped), no code prefix.
  reply raw;
  raw.code = 250;
  for (std::size_t pos = 0; pos <= data.size();) {
    std::size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) nl = data.size();
    std::string_view line = data.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    raw.lines.emplace_back(line);
    pos = nl + 1;
  }
  check(raw);

  // Through the reply parser, as the client reads it: every complete reply.
  reply_parser p;
  while (!data.empty()) {
    std::size_t used = 0;
    auto st = p.feed(data, used);
    if (st != reply_parser::state::complete) break;
    reply r = p.take();
    check(r);
    data.remove_prefix(used);
  }
  return 0;
}
