// Classifies failures into sent / transient / permanent outcomes (internal to lib/smtp).
#pragma once

#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

#include "smtp/client.hpp"

namespace iaposte::smtp::classify {

outcome sent(reply r, phase at = phase::dot);

// A complete reply that is not the one expected: 4xx transient, 5xx permanent (RFC 5321
// §4.2.1); anything else (a 2xx/3xx out of sequence) is a protocol error, transient.
outcome rejected(phase at, reply r);

// No reply could be read: all transient (RFC 5321 §4.5.4.1: the client retries later).
outcome timeout_reading(phase at);
outcome timeout_writing(phase at);
outcome read_error(phase at, const boost::system::error_code& ec);
outcome write_error(phase at, const boost::system::error_code& ec);
outcome malformed(phase at, std::string_view parser_error);

// Failures decided here, without a reply: before or without the server (phase::local), or at
// a step that could not be done (resolve, connect, the TLS handshake, a required STARTTLS or
// AUTH mechanism the server does not offer).
outcome local_permanent(std::string error, phase at = phase::local);
outcome local_transient(std::string error, phase at = phase::local);

// An address only SMTPUTF8 can carry (a UTF-8 local part: it has no ASCII form, RFC 6531 §3.3)
// for a server that does not offer SMTPUTF8: permanent, as the same server would refuse it
// again, with the enhanced code 5.6.7 "non-ASCII addresses not permitted for that
// sender/recipient" (RFC 6531 §3.7.4.1, RFC 5248) in `last` (code 0: decided here, before any
// command). `role`: "sender" or "recipient".
outcome needs_smtputf8(std::string_view role, std::string_view address);

// An internationalised domain with no A-label form (it escaped the intake's IDNA2008 check):
// permanent, 5.1.7 for the sender, 5.1.3 for a recipient (RFC 3463: bad address syntax).
outcome no_ascii_form(std::string_view role, std::string_view address, std::string_view why);

// Server text is untrusted and ends up in logs: printable ASCII only, bounded.
std::string sanitize(std::string_view text, std::size_t max = 512);

} // namespace iaposte::smtp::classify
