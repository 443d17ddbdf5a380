// JSON-lines formatter for spdlog and the structured event helper.
#include "log/log.hpp"

#include <chrono>
#include <ctime>
#include <memory>
#include <string>

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace iaposte::log {
namespace {

std::string timestamp(spdlog::log_clock::time_point tp) {
  using namespace std::chrono;
  auto secs = time_point_cast<seconds>(tp);
  auto ms = duration_cast<milliseconds>(tp - secs).count();
  std::time_t t = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}

// A message that is already a JSON object (from event()) is merged; anything else
// is wrapped as {"msg": "..."} so that every line stays one JSON object.
class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string head = "{\"ts\":\"" + timestamp(msg.time) + "\",\"level\":\"" +
                       std::string(spdlog::level::to_string_view(msg.level).data(),
                                   spdlog::level::to_string_view(msg.level).size()) +
                       "\",";
    dest.append(head.data(), head.data() + head.size());
    if (payload.size() >= 2 && payload.front() == '{' && payload.back() == '}') {
      dest.append(payload.data() + 1, payload.data() + payload.size());
    } else {
      std::string body = "\"msg\":" +
                         nlohmann::json(std::string(payload))
                             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                         "}";
      dest.append(body.data(), body.data() + body.size());
    }
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

} // namespace

void setup(std::string_view level) {
  auto logger = std::make_shared<spdlog::logger>("iaposte",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(std::make_unique<json_formatter>());
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

void event(spdlog::level::level_enum lvl, std::string_view name, nlohmann::json fields) {
  if (!spdlog::should_log(lvl)) return;
  nlohmann::json line = nlohmann::json::object();
  line["event"] = name;
  if (fields.is_object()) {
    for (auto& [k, v] : fields.items())
      line[k] = std::move(v);
  }
  spdlog::log(lvl, "{}", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

} // namespace iaposte::log
