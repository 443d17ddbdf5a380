// Text that leaves the daemon (status events, log lines, DLQ headers, PostgreSQL rows):
// always valid UTF-8 and bounded, whatever a producer or an SMTP server sent.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace iaposte::core {

// Offset of the first byte that does not belong to a valid UTF-8 sequence (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF), or npos when `s` is valid.
std::size_t invalid_utf8_at(std::string_view s);

// The longest reasons, SMTP reply texts and header values we pass on.
inline constexpr std::size_t max_reason_bytes = 1024;

// `s` as valid UTF-8 of at most `max_bytes` bytes: each invalid sequence is replaced by
// U+FFFD, and a longer text is cut at a code point boundary and ends with "...".
std::string clean_text(std::string_view s, std::size_t max_bytes = max_reason_bytes);

} // namespace iaposte::core
