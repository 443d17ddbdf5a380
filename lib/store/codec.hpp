// Values to and from their PostgreSQL text form: status names, timestamps, clean text.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.hpp"

namespace iaposte::store::detail {

// The names stored in messages.state and in the status of its history events. Kept here (not
// core::to_string) so that the stored vocabulary is owned by the schema's module.
std::string_view status_name(core::status s);
std::optional<core::status> status_from_name(std::string_view s);

// States after which a request is never sent again (messages.state vocabulary).
bool is_terminal_state(std::string_view state);

// RFC 3339 UTC with microseconds, the precision of timestamptz.
std::string pg_time(core::clock::time_point t);
// From microseconds since the Unix epoch (what the queries select).
core::clock::time_point from_epoch_us(std::int64_t us);

// Text PostgreSQL accepts: NUL stripped, invalid UTF-8 replaced by U+FFFD.
std::string clean_text(std::string_view s);
// A JSON batch parameter, with invalid UTF-8 replaced rather than thrown on.
std::string to_param(const nlohmann::json& j);

} // namespace iaposte::store::detail
