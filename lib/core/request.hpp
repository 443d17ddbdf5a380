// The send request (schema iaposte.request.v1): its parsed form and its validation.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/attachment.hpp"

namespace iaposte::core {

using clock = std::chrono::system_clock;

struct address {
  std::string display_name; // UTF-8, may be empty
  std::string email; // addr-spec, local@domain; a non-ASCII domain in U-labels (core/idn.hpp)
  // {"contact": "<email or id>"}: a stored contact, resolved (email, and the name unless
  // given) before composition; `email` is empty until then.
  std::string contact{};
};

// A stored template (`template`): its name, a version (none: the active one), a locale
// (none: the contact's, then the default variant).
struct template_ref {
  std::string name;
  std::optional<int> version;
  std::string locale;
};

enum class mail_category { transactional, marketing };

struct request {
  std::string request_id; // idempotency key, [A-Za-z0-9._:@-]{1,128}
  std::string tenant;     // [a-z0-9_-]{1,64}
  address from;
  std::vector<address> to, cc, bcc;
  std::optional<address> reply_to;
  std::string subject, text, html; // inline content, {variable} placeholders allowed
  std::string markdown;            // inline Markdown body (an HTML and a text part from it)
  std::optional<template_ref> tmpl;
  // The contact whose fields fill the variables (an email or an id); without any recipient,
  // the recipient as well. Empty: the first `to` given as a contact, if any.
  std::string contact_id;
  // Scalar variables as text ({variable} substitution, the AI prompt)...
  std::map<std::string, std::string> variables;
  // ... and every variable as given (objects and arrays for a template's sections and loops).
  nlohmann::json variables_json = nlohmann::json::object();
  mail_category category = mail_category::transactional;
  std::string list; // the mailing list (suppression and unsubscribe scope), "" = none
  // Producer-given List-Unsubscribe targets; otherwise marketing mail gets the daemon's own.
  struct unsubscribe_links {
    std::string url, mailto;
  };
  std::optional<unsubscribe_links> unsubscribe;
  // Decoded and checked; inline ones (content_id) are shown by the HTML through cid: URLs.
  std::vector<attachment> attachments;
  std::vector<std::pair<std::string, std::string>> headers; // allow-listed extra headers
  std::vector<std::string> tags;
  std::optional<clock::time_point> send_at, expires_at;
  nlohmann::json metadata = nlohmann::json::object(); // echoed in every status event
  // ai: content written (generate) or rewritten for the contact (personalize) by a model;
  // absent for mode "none".
  struct ai_request {
    std::string mode; // "personalize" or "generate"
    std::string instructions, style;
  };
  std::optional<ai_request> ai;

  // Every envelope recipient: to, cc and bcc, in that order (contacts not resolved yet are
  // left out).
  std::vector<std::string> envelope_recipients() const;
};

// Limits a request must respect; anything beyond is rejected, never truncated.
struct limits {
  std::size_t max_request_bytes = 1024 * 1024;         // the raw Kafka message
  std::size_t max_body_bytes = 512 * 1024;             // subject + text + html after rendering
  std::size_t max_recipients = 100;                    // to + cc + bcc
  std::size_t max_metadata_bytes = 16 * 1024;          // metadata as JSON (echoed in every event)
  std::size_t max_attachments = 20;                    // items in attachments
  std::size_t max_attachment_bytes = 10 * 1024 * 1024; // decoded bytes of all attachments
};

// The outcome of parsing one raw request. On failure, `error` is a readable
// reason and request_id/tenant hold whatever could be recovered (possibly empty),
// so that the `rejected` event can still be keyed.
struct parse_result {
  std::optional<request> value;
  std::string error;
  std::string request_id;
  std::string tenant;
  nlohmann::json metadata = nlohmann::json::object();

  bool ok() const { return value.has_value(); }
};

parse_result parse_request(std::string_view raw, const limits& lim);

// The same, with the current time given: `expires_at` is compared with `now`.
parse_result parse_request(std::string_view raw, const limits& lim, clock::time_point now);

// Syntax check of an addr-spec: RFC 5321 mailbox (dot-atom local part, host name or address
// literal), or internationalised (RFC 6531: UTF-8 local part, IDNA2008 domain in U- or A-labels).
bool valid_email(std::string_view email);

// True when the value is safe in a header: no CR, no LF, no NUL.
bool header_safe(std::string_view value);

} // namespace iaposte::core
