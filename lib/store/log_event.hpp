// The store's log lines: one event per line as a JSON object, never a connection string.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace iaposte::store::detail {

// The message is a JSON object so that the daemon's JSON-lines formatter merges it into
// the line ({"ts", "level", "event", ...fields}); with a plain formatter it stays readable.
inline void log_event(spdlog::level::level_enum lvl, std::string_view name,
                      nlohmann::json fields = nlohmann::json::object()) {
  if (!spdlog::should_log(lvl)) return;
  nlohmann::json line = nlohmann::json::object();
  line["event"] = name;
  for (auto& [k, v] : fields.items())
    line[k] = std::move(v);
  spdlog::log(lvl, "{}", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

} // namespace iaposte::store::detail
