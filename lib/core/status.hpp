// The status event (schema iaposte.status.v1) published for every transition.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/request.hpp"

namespace iaposte::core {

// `sending` is recorded in PostgreSQL only, never published: an attempt's final dot may be
// on its way to the server (see worker: the unconfirmed window).
// `suppressed`: every recipient is on the tenant's suppression list for this mail.
enum class status {
  accepted,
  deferred,
  sent,
  bounced,
  failed,
  rejected,
  duplicate,
  sending,
  suppressed
};

std::string_view to_string(status s);
std::optional<status> status_from_string(std::string_view s);
bool is_terminal(status s);

struct smtp_reply_info {
  int code = 0;
  std::string enhanced; // "4.7.1", empty when the server gave none
  std::string text;
};

struct status_event {
  std::string request_id;
  std::string tenant;
  core::status status = status::accepted;
  int attempt = 0;
  std::string message_id;
  std::optional<smtp_reply_info> smtp;
  std::optional<clock::time_point> next_attempt_at;
  std::string reason; // human-readable, for rejected/failed/bounced
  clock::time_point timestamp = clock::now();
  nlohmann::json metadata = nlohmann::json::object();
  // For a request with ai: {provider, model, cached, fallback, sentiment{label, score,
  // source}}; null otherwise (left out of the JSON).
  nlohmann::json ai = nullptr;
};

// Reason and SMTP text are cleaned (valid UTF-8, core::max_reason_bytes at most).
nlohmann::json to_json(const status_event& e);
// The event's JSON text as published; never throws on the event's content.
std::string serialize(const status_event& e);
status_event status_event_from_json(const nlohmann::json& j); // throws on bad input

// RFC 3339 UTC with milliseconds, e.g. 2026-11-25T17:09:24.123Z.
std::string format_time(clock::time_point t);
std::optional<clock::time_point> parse_time(std::string_view s);

} // namespace iaposte::core
