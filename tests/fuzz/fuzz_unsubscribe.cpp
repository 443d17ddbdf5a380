// libFuzzer target for lib/unsubscribe's untrusted inputs: the token in the URL path and the
// one-click POST body with its Content-Type. Input: a first byte choosing the mode, then data.
//
// Checked beyond "no crash, no sanitizer report":
//  - a token that verifies re-encodes to exactly the same string (one encoding per token: no
//    malleability), and a refused one always says why;
//  - any (tenant, address, list) encode accepts verifies back to the same fields;
//  - the form check answers one of its three verdicts, with an error exactly when refusing,
//    and one_click only when the body contains "one-click" in some case or encoding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "unsubscribe/form.hpp"
#include "unsubscribe/unsubscribe.hpp"

using namespace iaposte;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_unsubscribe: property broken: %s\n", what);
  std::abort();
}
#define EXPECT(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) fail(#cond);                                                                      \
  } while (0)

const unsubscribe::secret_set& secrets() {
  static const unsubscribe::secret_set s({"fuzz-unsubscribe-secret-0123456789abcdef"});
  return s;
}

void check_token(std::string_view token) {
  static const unsubscribe::verifier v(secrets());
  static const unsubscribe::signer s(secrets());
  const auto got = v.verify(token);
  EXPECT(got.sub.has_value() == got.error.empty());
  if (got) EXPECT(s.encode(*got.sub) == token);
}

void check_round_trip(std::string_view data) {
  // tenant \0 address \0 list
  const auto a = data.find('\0');
  const auto b = a == std::string_view::npos ? a : data.find('\0', a + 1);
  if (b == std::string_view::npos) return;
  const unsubscribe::subscription sub{std::string(data.substr(0, a)),
                                      std::string(data.substr(a + 1, b - a - 1)),
                                      std::string(data.substr(b + 1))};
  static const unsubscribe::verifier v(secrets());
  static const unsubscribe::signer s(secrets());
  std::string token;
  try {
    token = s.encode(sub);
  } catch (const std::invalid_argument&) {
    return;
  }
  const auto got = v.verify(token);
  EXPECT(got);
  EXPECT(*got.sub == sub);
}

bool contains_one_click(std::string_view body) {
  std::string lower;
  for (char c : body)
    lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  // "One-Click" written plainly, or with its letters or '-' percent-encoded.
  return lower.find("one") != std::string::npos || lower.find('%') != std::string::npos;
}

void check_form(std::string_view data) {
  // Content-Type \n body
  const auto nl = data.find('\n');
  if (nl == std::string_view::npos) return;
  const auto got = unsubscribe::check_one_click(data.substr(0, nl), data.substr(nl + 1));
  EXPECT(got.verdict == unsubscribe::form_verdict::one_click ||
         got.verdict == unsubscribe::form_verdict::not_one_click ||
         got.verdict == unsubscribe::form_verdict::unsupported_type);
  EXPECT(got.error.empty() == (got.verdict == unsubscribe::form_verdict::one_click));
  if (got.verdict == unsubscribe::form_verdict::one_click)
    EXPECT(contains_one_click(data.substr(nl + 1)));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
  case 0:
    check_token(in);
    break;
  case 1:
    check_round_trip(in);
    break;
  default:
    check_form(in);
  }
  return 0;
}
