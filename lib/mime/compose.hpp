// RFC 5322 / MIME message composition from a validated, rendered request, with its attachments.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/attachment.hpp"
#include "core/request.hpp"

namespace iaposte::mime {

// Decoded and checked at intake (core/attachment.hpp: read_attachments, check_inline_references).
using attachment = core::attachment;

struct content {
  std::string subject; // UTF-8, already rendered
  std::string text;    // UTF-8, may be empty
  std::string html;    // UTF-8, may be empty
  // In request order. Regular ones (no content_id) follow the body in multipart/mixed; inline
  // ones (content_id) go with the HTML in multipart/related, where its "cid:" URLs find them.
  std::vector<attachment> attachments = {};
  // Structured header fields the content stage adds (List-Unsubscribe, List-Unsubscribe-Post),
  // written after the request's own, ASCII and folded.
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// A stable Message-ID for a request: every attempt of one request carries the same one.
// e.g. <3f2a...c1.acme@mail.example.org> (hash of tenant and request_id, then the domain, in
// A-labels when it is internationalised: a Message-ID stays ASCII).
std::string make_message_id(std::string_view tenant, std::string_view request_id,
                            std::string_view domain);

// The whole message, CRLF line endings, lines <= 998 octets, ready for DATA
// (not dot-stuffed). Headers: Date, From, To, Cc (no Bcc), Reply-To, Subject,
// Message-ID, MIME-Version, X-Iaposte-Request-Id, the request's allow-listed
// headers, then the body, only as nested as the content needs:
//   text/plain | text/html | multipart/alternative (text, html)
//   with inline parts, the html becomes multipart/related (RFC 2387: html first, then the
//     inline parts in request order), inside the alternative when there is text;
//   with regular attachments, multipart/mixed (the above, then the attachments in order).
// Non-ASCII display names and subject are RFC 2047 encoded; addresses are written as kept
// (an internationalised one in UTF-8, RFC 6532 §3.2); bodies are quoted-printable (mostly
// ASCII) or base64; attachments base64 with RFC 2231 file names. Deterministic for given inputs:
// boundaries come from the Message-ID. Expects the content checked (check_inline_references);
// inline parts without html still go out, in multipart/mixed.
std::string compose(const core::request& req, const content& c, std::string_view message_id,
                    std::chrono::system_clock::time_point date);

// The octets one attachment adds to a composed message that has attachments: its delimiter
// line, part headers and base64 body (76-column lines). Exact, without encoding anything: with
// the body's and the headers' size, what a message will take, for `limits` and the relay's SIZE
// (whose check smtp::session makes with the composed message itself).
std::size_t encoded_size(const attachment& a);
std::size_t encoded_size(const std::vector<attachment>& list);

// Building blocks, exposed for tests.
std::string encode_word(std::string_view utf8);    // RFC 2047 B or Q encoding when needed
std::string quoted_printable(std::string_view in); // RFC 2045 §6.7, CRLF line breaks
std::string base64_lines(std::string_view in);     // 76-character lines, CRLF
std::string rfc5322_date(std::chrono::system_clock::time_point t);

} // namespace iaposte::mime
