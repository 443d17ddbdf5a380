// Private to lib/core: small text helpers shared by the request and address readers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/request.hpp"

namespace iaposte::core::detail {

// Number of Unicode code points in valid UTF-8 (what JSON Schema's maxLength counts).
std::size_t utf8_length(std::string_view s);

// A value quoted for an error reason: escaped, and cut to a readable length.
std::string quote(std::string_view s);

// Reads "user@example.org", "Name <user@example.org>" or "\"Name, Jr\" <user@example.org>".
// Returns an empty string on success, else the reason (without the field name).
std::string parse_mailbox(std::string_view s, address& out);

// Checks a display name; returns an empty string when it is acceptable.
std::string check_display_name(std::string_view name);

} // namespace iaposte::core::detail
