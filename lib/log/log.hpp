// Structured logging: every line on stderr is one JSON object (ts, level, event, fields).
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>
#include <spdlog/common.h>

namespace iaposte::log {

// Installs the JSON-lines formatter on the default spdlog logger (stderr) and sets
// the level ("trace".."critical", "off"). Plain spdlog calls elsewhere become
// {"ts":..., "level":..., "msg": "..."}.
void setup(std::string_view level);

// One event, as fields: {"ts","level","event", ...fields}. Never pass a secret.
void event(spdlog::level::level_enum lvl, std::string_view name, nlohmann::json fields = {});

inline void info(std::string_view name, nlohmann::json fields = {}) {
  event(spdlog::level::info, name, std::move(fields));
}
inline void warn(std::string_view name, nlohmann::json fields = {}) {
  event(spdlog::level::warn, name, std::move(fields));
}
inline void error(std::string_view name, nlohmann::json fields = {}) {
  event(spdlog::level::err, name, std::move(fields));
}
inline void debug(std::string_view name, nlohmann::json fields = {}) {
  event(spdlog::level::debug, name, std::move(fields));
}

} // namespace iaposte::log
