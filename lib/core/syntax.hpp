// Private to lib/core: small text helpers shared by the request and address readers.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/request.hpp"

namespace iaposte::core::detail {

// Number of Unicode code points in valid UTF-8 (what JSON Schema's maxLength counts).
std::size_t utf8_length(std::string_view s);

// The code point of the UTF-8 sequence at s[i] (RFC 3629: shortest form, no surrogates, at most
// U+10FFFF) and its length in `n`; -1 when ill-formed (n is then meaningless).
long decode_utf8(std::string_view s, std::size_t i, std::size_t& n);

// "U+200B".
std::string code_point_name(long cp);

// A value quoted for an error reason: escaped, and cut to a readable length.
std::string quote(std::string_view s);

// Checks an addr-spec (RFC 5321 §4.1.2; RFC 6531 §3.3 for UTF-8 local parts and domains) and
// gives the form it is kept in: a non-ASCII domain in IDNA2008 U-labels, lower case (see
// idn::normalise_domain), everything else as given. nullopt when valid; otherwise what to add after
// `invalid email address "..."`: empty for a plain syntax error (as before IDN support), else a
// detail in parentheses for what is new: " (domain not a valid IDNA2008 domain name: ...)".
std::optional<std::string> check_email(std::string_view email, std::string& normalised);

// `invalid email address "<email>"` and the detail check_email() gave.
std::string invalid_email(std::string_view email, std::string_view why);

// Reads "user@example.org", "Name <user@example.org>" or "\"Name, Jr\" <user@example.org>".
// Returns an empty string on success, else the reason (without the field name).
std::string parse_mailbox(std::string_view s, address& out);

// Checks a display name; returns an empty string when it is acceptable.
std::string check_display_name(std::string_view name);

} // namespace iaposte::core::detail
