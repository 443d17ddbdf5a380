// The status event (iaposte.status.v1): names of the states, and its JSON form both ways.
#include "core/status.hpp"

#include <array>
#include <stdexcept>

#include "core/text.hpp"

namespace iaposte::core {
namespace {

constexpr std::string_view schema_id = "iaposte.status.v1";

constexpr std::array<std::pair<status, std::string_view>, 9> names{{
    {status::accepted, "accepted"},
    {status::deferred, "deferred"},
    {status::sent, "sent"},
    {status::bounced, "bounced"},
    {status::failed, "failed"},
    {status::rejected, "rejected"},
    {status::duplicate, "duplicate"},
    {status::sending, "sending"},
    {status::suppressed, "suppressed"},
}};

[[noreturn]] void bad(const std::string& what) {
  throw std::runtime_error("invalid status event: " + what);
}

const nlohmann::json& member(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) bad(std::string("missing field: ") + name);
  return *it;
}

std::string string_member(const nlohmann::json& j, const char* name) {
  const auto& v = member(j, name);
  if (!v.is_string()) bad(std::string(name) + ": must be a string");
  return v.get<std::string>();
}

int int_member(const nlohmann::json& j, const char* name, int min, int max) {
  const auto& v = member(j, name);
  if (!v.is_number_integer()) bad(std::string(name) + ": must be an integer");
  auto n = v.get<long long>();
  if (n < min || n > max) bad(std::string(name) + ": out of range");
  return static_cast<int>(n);
}

clock::time_point time_member(const nlohmann::json& j, const char* name) {
  auto t = parse_time(string_member(j, name));
  if (!t) bad(std::string(name) + ": invalid RFC 3339 timestamp");
  return *t;
}

} // namespace

std::string_view to_string(status s) {
  for (const auto& [value, name] : names)
    if (value == s) return name;
  return "unknown";
}

std::optional<status> status_from_string(std::string_view s) {
  for (const auto& [value, name] : names)
    if (name == s) return value;
  return std::nullopt;
}

bool is_terminal(status s) {
  return s == status::sent || s == status::bounced || s == status::failed ||
         s == status::rejected || s == status::duplicate || s == status::suppressed;
}

nlohmann::json to_json(const status_event& e) {
  nlohmann::json j = {
      {"schema", schema_id},
      {"request_id", e.request_id},
      {"tenant", e.tenant},
      {"status", to_string(e.status)},
      {"attempt", e.attempt},
      {"message_id", e.message_id},
      {"timestamp", format_time(e.timestamp)},
      {"metadata", e.metadata.is_object() ? e.metadata : nlohmann::json::object()},
  };
  // Reasons and reply texts quote producers and SMTP servers: cleaned and bounded here, so
  // that no byte they sent can make the event unserialisable.
  if (e.smtp)
    j["smtp"] = {{"code", e.smtp->code},
                 {"enhanced", clean_text(e.smtp->enhanced, 16)},
                 {"text", clean_text(e.smtp->text)}};
  if (e.next_attempt_at) j["next_attempt_at"] = format_time(*e.next_attempt_at);
  if (!e.reason.empty()) j["reason"] = clean_text(e.reason);
  if (e.ai.is_object()) j["ai"] = e.ai;
  return j;
}

std::string serialize(const status_event& e) {
  // `replace`: a string that is still not valid UTF-8 (metadata is checked at intake, the
  // rest is cleaned above) becomes U+FFFD rather than an exception.
  return to_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

status_event status_event_from_json(const nlohmann::json& j) {
  if (!j.is_object()) bad("must be a JSON object");
  if (auto it = j.find("schema");
      it != j.end() && (!it->is_string() || it->get_ref<const std::string&>() != schema_id))
    bad("schema: expected \"iaposte.status.v1\"");
  status_event e;
  e.request_id = string_member(j, "request_id");
  e.tenant = string_member(j, "tenant");
  auto st = status_from_string(string_member(j, "status"));
  if (!st) bad("status: unknown value");
  e.status = *st;
  e.attempt = int_member(j, "attempt", 0, 1000000);
  e.message_id = string_member(j, "message_id");
  e.timestamp = time_member(j, "timestamp");
  if (auto it = j.find("metadata"); it != j.end()) {
    if (!it->is_object()) bad("metadata: must be an object");
    e.metadata = *it;
  }
  if (auto it = j.find("smtp"); it != j.end()) {
    if (!it->is_object()) bad("smtp: must be an object");
    smtp_reply_info info;
    info.code = int_member(*it, "code", 100, 599);
    info.enhanced = string_member(*it, "enhanced");
    info.text = string_member(*it, "text");
    e.smtp = std::move(info);
  }
  if (j.contains("next_attempt_at")) e.next_attempt_at = time_member(j, "next_attempt_at");
  if (j.contains("reason")) e.reason = string_member(j, "reason");
  if (auto it = j.find("ai"); it != j.end()) {
    if (!it->is_object()) bad("ai: must be an object");
    e.ai = *it;
  }
  return e;
}

} // namespace iaposte::core
