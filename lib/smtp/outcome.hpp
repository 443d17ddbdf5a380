// Classifies failures into sent / transient / permanent outcomes (internal to lib/smtp).
#pragma once

#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

#include "smtp/client.hpp"

namespace iaposte::smtp::classify {

// The step a command belongs to, as it appears in error strings ("reply to RCPT").
// "greeting", "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "end of data",
// "RSET", "QUIT".
using phase = std::string_view;

outcome sent(reply r);

// A complete reply that is not the one expected: 4xx transient, 5xx permanent (RFC 5321
// §4.2.1); anything else (a 2xx/3xx out of sequence) is a protocol error, transient.
outcome rejected(phase p, reply r);

// No reply could be read: all transient (RFC 5321 §4.5.4.1: the client retries later).
outcome timeout_reading(phase p);
outcome timeout_writing(phase p);
outcome read_error(phase p, const boost::system::error_code& ec);
outcome write_error(phase p, const boost::system::error_code& ec);
outcome malformed(phase p, std::string_view parser_error);

// Local failures decided before or without the server.
outcome local_permanent(std::string error);
outcome local_transient(std::string error);

// Server text is untrusted and ends up in logs: printable ASCII only, bounded.
std::string sanitize(std::string_view text, std::size_t max = 512);

} // namespace iaposte::smtp::classify
