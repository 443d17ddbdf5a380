// Private to lib/mime: the pieces compose.cpp assembles (encoded-words, folding, digests).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/attachment.hpp"
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

// Length of the UTF-8 sequence starting at s[i]; a stray byte counts as one.
std::size_t char_length(std::string_view s, std::size_t i);

// A MIME entity being assembled: its Content-* header lines and its body.
struct entity {
  std::string headers; // each line ends with CRLF; no blank line
  std::string body;
  // The body ends with a CRLF that the next delimiter takes as its own (RFC 2046 §5.1.1: the CRLF
  // before "--boundary" belongs to the delimiter): base64 lines and nested multiparts. A text
  // body gets one more CRLF instead, so that its last line break is kept.
  bool ends_with_break = false;
};

// "=_iaposte_" and 24 hex digits: every boundary has this length.
inline constexpr std::size_t boundary_size = 34;

// multipart/<subtype> of `parts`, in order. The boundary is derived from `seed` (the Message-ID,
// with a tag per nesting level), the next candidate taken while it occurs in a part.
// `params`: parameters before the boundary, each followed by "; " (`type="text/html"; `).
entity multipart(std::string_view subtype, std::string_view params, std::string_view seed,
                 const std::vector<entity>& parts);

// An attachment's part: Content-Type (with name=), Content-Disposition (attachment or inline, with
// the file name), Content-ID for an inline part, base64 body.
std::string attachment_headers(const core::attachment& a);
entity attachment_entity(const core::attachment& a);

// The file name as Content-Disposition parameters (RFC 2183, RFC 2231): `filename="devis.pdf"`
// alone when the name is short printable ASCII; otherwise the RFC 2231 form first,
// `filename*=utf-8''Devis%20d%C3%A9taill%C3%A9.pdf`, split into `filename*0*=...`,
// `filename*1*=...` when it would not fit a line, then the ASCII fallback `filename="..."` for
// readers without RFC 2231.
std::vector<std::string> filename_parameters(std::string_view name);

// An ASCII stand-in for a file name: Latin letters lose their accents (é → e, œ → oe), any other
// character becomes "_", '"' and '\' too; at most 60 characters, keeping the extension;
// "attachment" + the extension when nothing legible is left ("报告.pdf" → "attachment.pdf").
std::string ascii_filename(std::string_view name);

} // namespace iaposte::mime::detail
