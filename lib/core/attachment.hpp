// A request's attachments: decoded form and intake checks (base64, names, types, Content-IDs).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace iaposte::core {

struct attachment {
  std::string filename;     // UTF-8, checked by check_filename(); may be empty only when inline
  std::string content_type; // "type/subtype", lower case, no parameters
  std::string data;         // the decoded bytes
  std::string content_id;   // empty: a regular attachment; set: inline, shown by the HTML's "cid:"
};

// Each returns an empty string when the value is acceptable, else the reason, without the field
// name (the caller prefixes "attachments[1].filename: ").

// RFC 4648 §4 base64 into `out`: the standard alphabet, "=" padding required and only at the end,
// canonical (unused bits zero), line breaks (CRLF or LF, as MIME-wrapped input has) ignored,
// nothing else. The reason names the first bad character, counting from 1 in characters:
// "invalid base64 at character 57 ("!" is not in the base64 alphabet)".
std::string decode_base64(std::string_view in, std::string& out);

// A file name the recipient's software may use as is: 1-255 octets of valid UTF-8; no "/" or
// "\" (no path), not "." or ".."; no control character (C0, DEL, C1) and no bidirectional or
// invisible formatting character (U+202E would show "invoice<U+202E>fdp.exe" as "invoiceexe.pdf").
std::string check_filename(std::string_view name);

// A media type "type/subtype" (RFC 2045 §5.1, RFC 6838 §4.2 names: letters, digits and
// !#$&-^_.+, 1-127 each), given back in lower case in `out`. No parameters: the message's own
// (charset, name, boundary) are written by lib/mime, so ";" is refused rather than passed
// through. multipart/* and message/* are refused: an attachment is one opaque body in base64,
// which RFC 2046 §5 forbids for those.
std::string normalise_content_type(std::string_view in, std::string& out);

// A Content-ID as RFC 2392 "cid:" URLs name it, and as it is written in "Content-ID: <...>":
// id-left "@" id-right (RFC 5322 msg-id), each dot-separated words of letters, digits and
// "!$*+-_=~" (characters that need no escaping in a URL or an HTML attribute), at most 64 in all:
// "logo@acme.fr", "part1.2024@mail.acme.fr".
std::string check_content_id(std::string_view id);

// Where the HTML shows inline parts: every "cid:" URL in an attribute value or CSS url() (after
// '"', '\'', '=' or '('), percent-decoded (RFC 2392 §2). Both ways must match, so that no image is
// missing and none is sent for nothing. Returns the reason with the field:
//   html: "cid:photo@acme.fr" names no attachment (no content_id "photo@acme.fr")
//   attachments[1].content_id: "logo@acme.fr" is not shown by the html (no "cid:logo@acme.fr")
// Call it on the HTML as it will be sent (after rendering). Empty when every reference matches.
std::string check_inline_references(std::string_view html, const std::vector<attachment>& list);

// The request's "attachments" array, each item
//   {"filename": "devis.pdf", "content_type": "application/pdf", "content_base64": "JVBERi0x...",
//    "content_id": "logo@acme.fr"}
// content_type defaults to application/octet-stream; content_id is optional (set: inline);
// filename is required unless the item is inline. At most `max_count` items and `max_bytes`
// decoded bytes together; content_id values distinct. Appends to `out`; returns the reason
// naming the field ("attachments[1].content_base64: invalid base64 at character 57 (...)").
std::string read_attachments(const nlohmann::ordered_json& j, std::size_t max_count,
                             std::size_t max_bytes, std::vector<attachment>& out);

} // namespace iaposte::core
