// Private to lib/mime: the pieces compose.cpp assembles (encoded-words, folding, digests).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/request.hpp"

namespace iaposte::mime::detail {

inline constexpr std::string_view crlf = "\r\n";
inline constexpr std::size_t fold_width = 76; // RFC 2047 §2 line limit for encoded-words

// True when text cannot go into a header as is: non-ASCII, control characters,
// or something a reader would take for an encoded-word ("=?").
bool needs_encoding(std::string_view text);

// RFC 2047 encoded-words for UTF-8 text, each at most `max` characters (the
// first at most `first_max`), split between characters, never inside one.
// Q when at least two thirds of the characters are ASCII, B otherwise.
std::vector<std::string> encoded_words(std::string_view utf8, std::size_t first_max,
                                       std::size_t max);

std::string base64(std::string_view in); // one line, no breaks
std::size_t base64_lines_size(std::size_t n);

// CR, LF and NUL replaced by spaces: header values never break a line.
std::string header_clean(std::string_view value);

// "Name: value" folded at whitespace to fold_width where possible, ending with CRLF.
// `structured`: never fold inside a quoted string.
std::string fold_header(std::string_view name, std::string_view value, bool structured);

// An unstructured header (Subject, X-*, Comments): encoded-words when needed.
std::string unstructured_header(std::string_view name, std::string_view value);

// An address header: the mailboxes joined with ", ".
std::string address_header(std::string_view name, const std::vector<core::address>& list);

// One mailbox: addr-spec alone, or phrase (atoms, quoted string or encoded-words) + <addr-spec>.
// `first_room`: the space left on the line for a first encoded-word.
std::string mailbox(const core::address& a, std::size_t first_room = 75);

std::string sha256_hex(std::string_view data);

} // namespace iaposte::mime::detail
