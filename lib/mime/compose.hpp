// RFC 5322 / MIME message composition from a validated, rendered request.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/request.hpp"

namespace iaposte::mime {

struct content {
  std::string subject; // UTF-8, already rendered
  std::string text;    // UTF-8, may be empty
  std::string html;    // UTF-8, may be empty
};

// A stable Message-ID for a request: every attempt of one request carries the same one.
// e.g. <3f2a...c1.acme@mail.example.org> (hash of tenant and request_id, then the domain).
std::string make_message_id(std::string_view tenant, std::string_view request_id,
                            std::string_view domain);

// The whole message, CRLF line endings, lines <= 998 octets, ready for DATA
// (not dot-stuffed). Headers: Date, From, To, Cc (no Bcc), Reply-To, Subject,
// Message-ID, MIME-Version, X-Iaposte-Request-Id, the request's allow-listed
// headers, then the body: text/plain, text/html or multipart/alternative.
// Non-ASCII display names and subject are RFC 2047 encoded; bodies are
// quoted-printable (mostly ASCII) or base64. Deterministic for given inputs.
std::string compose(const core::request& req, const content& c, std::string_view message_id,
                    std::chrono::system_clock::time_point date);

// Building blocks, exposed for tests.
std::string encode_word(std::string_view utf8);    // RFC 2047 B or Q encoding when needed
std::string quoted_printable(std::string_view in); // RFC 2045 §6.7, CRLF line breaks
std::string base64_lines(std::string_view in);     // 76-character lines, CRLF
std::string rfc5322_date(std::chrono::system_clock::time_point t);

} // namespace iaposte::mime
