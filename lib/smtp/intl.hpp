// The envelope as one server can take it, RFC 6531 (internal to lib/smtp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "smtp/client.hpp"

namespace iaposte::smtp::intl {

// Some address of the envelope has a byte >= 0x80. When none has (the usual case), the envelope
// goes as it is and no plan is made.
bool needed(const envelope& env);

// What one transaction sends for an envelope with internationalised addresses, decided when the
// server's EHLO is known (chasquid style: the outcome is settled where it is known).
//   server offers SMTPUTF8: every address as given (U-labels, UTF-8 local parts), and the
//     SMTPUTF8 parameter (RFC 6531 §3.4);
//   it does not: domains in A-labels (RFC 5890 §2.3.2.1, what a pre-SMTPUTF8 server understands);
//     a recipient with a UTF-8 local part has no such form: refused here, permanent 5.6.7, while
//     the others go; a sender with one fails the whole message the same way.
struct plan {
  envelope wire;                  // MAIL FROM and the RCPT TO that go, as written on the wire
  std::vector<std::string> names; // the caller's spelling of each wire.rcpt_to (results use it)
  // One per caller recipient: the result decided here, or nothing when it goes to the server.
  std::vector<std::optional<recipient_result>> refused;
  std::optional<outcome> failure; // the whole message refused here (the sender)
  bool smtputf8 = false;          // MAIL carries the SMTPUTF8 parameter
};

plan for_server(const envelope& env, bool server_offers_smtputf8);

// When every recipient was refused here: the message's outcome (the first refusal's).
outcome all_refused(const plan& p);

// o.recipients are the wire recipients' results (under their caller names): puts the refused
// ones back among them, in the caller's envelope order. A message the server took stays `sent`
// (partial() then names who did not get it).
void merge(outcome& o, const plan& p);

} // namespace iaposte::smtp::intl
