// Message splitting and relaxed canonicalisation (RFC 6376 §3.4.2, §3.4.4), exposed for the
// tests and the fuzz target; the signer is their only other user.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace iaposte::dkim::detail {

struct header_field {
  std::string_view name; // as written, without the WSP an obsolete form allows before ':'
  std::string_view raw;  // the whole field, continuation lines included, without its last CRLF
};

struct parsed_message {
  std::vector<header_field> headers; // in message order
  std::string_view body;             // after the empty line; empty when there is none
};

// Splits a message into header fields and body (RFC 5322 §2.1, §2.2). Views into `message`.
// Throws dkim::error on a bare CR or LF anywhere (SMTP transport would make it CRLF, and the
// signature would no longer match), on a header line that is neither a field (name ':' ...)
// nor a continuation (starting with WSP), or on a header section without its final CRLF.
parsed_message parse_message(std::string_view message);

// "name:value\r\n" of one field (raw as in header_field): name lower-cased, continuation
// line breaks removed, WSP runs made one SP, WSP removed at both ends of the value and before
// the colon (RFC 6376 §3.4.2). Appends to `out`.
void relaxed_header(std::string_view raw, std::string& out);
std::string relaxed_header(std::string_view raw);

// The body as hashed (RFC 6376 §3.4.4): WSP at line ends removed, WSP runs made one SP, empty
// lines at the end removed, a final CRLF when the result is not empty. A last line without
// CRLF is treated as if it had one (as SMTP will send it: lib/smtp adds the CRLF before the
// final dot), so its trailing WSP goes too. Appends to `out`.
void relaxed_body(std::string_view body, std::string& out);
std::string relaxed_body(std::string_view body);

// Case-insensitive ASCII comparison of header field names.
bool same_name(std::string_view a, std::string_view b);

} // namespace iaposte::dkim::detail
