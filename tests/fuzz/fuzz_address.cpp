// libFuzzer target for address intake (lib/core/address.cpp, idn.cpp with libidn2): arbitrary
// bytes as an addr-spec into check_email(), and what the SMTP client would make of it.
//
// Checked beyond "no crash, no sanitizer report":
//  - valid_email() agrees with check_email();
//  - an accepted address: its kept form is accepted again and kept the same (normalising is
//    idempotent), at most 254 octets, safe in a MAIL/RCPT command (smtp::protocol::safe_path),
//    unchanged when it was ASCII; a non-ASCII domain is kept as valid UTF-8 in NFC U-labels whose
//    A-label form is a host name;
//  - an ASCII local part gives an ASCII address (A-labels) of at most 254 octets; a UTF-8 one
//    gives none;
//  - a refusal's detail is empty or " (...)".
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/idn.hpp"
#include "core/request.hpp"
#include "core/syntax.hpp"
#include "smtp/protocol.hpp"

namespace core = iaposte::core;
namespace idn = iaposte::core::idn;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_address: property broken: %s\n", what);
  std::abort();
}
#define EXPECT(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) fail(#cond);                                                                      \
  } while (0)

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string email(reinterpret_cast<const char*>(data), size);
  std::string kept;
  auto why = core::detail::check_email(email, kept);
  EXPECT(core::valid_email(email) == !why.has_value());
  if (why) {
    EXPECT(why->empty() || (why->rfind(" (", 0) == 0 && why->back() == ')'));
    return 0;
  }
  EXPECT(kept.size() <= 254);
  EXPECT(iaposte::smtp::protocol::safe_path(kept));
  if (idn::is_ascii(email)) EXPECT(kept == email);
  std::string again;
  EXPECT(!core::detail::check_email(kept, again));
  EXPECT(again == kept);
  auto at = kept.rfind('@');
  EXPECT(at != std::string::npos);
  auto domain = kept.substr(at + 1);
  if (!idn::is_ascii(domain)) {
    auto ascii = idn::to_ascii(domain);
    EXPECT(!ascii.empty() && idn::host_name(ascii));
    EXPECT(idn::normalise_domain(domain) == domain);
  }
  auto ascii_form = idn::ascii_address(kept);
  if (idn::utf8_local_part(kept)) {
    EXPECT(!ascii_form);
  } else {
    EXPECT(ascii_form && idn::is_ascii(*ascii_form) && ascii_form->size() <= 254);
    EXPECT(idn::mailbox_key(kept) == idn::mailbox_key(*ascii_form));
  }
  return 0;
}
