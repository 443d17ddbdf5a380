// Values to and from their PostgreSQL text form: status names, timestamps, clean text.
#include "store/codec.hpp"

#include <cstdio>
#include <ctime>
#include <utility>

namespace iaposte::store::detail {
// The column values are the status names of the events (core/status.cpp), one list.
std::string_view status_name(core::status s) {
  return core::to_string(s);
}

std::optional<core::status> status_from_name(std::string_view s) {
  return core::status_from_string(s);
}

bool is_terminal_state(std::string_view state) {
  return state == "sent" || state == "bounced" || state == "failed" || state == "rejected" ||
         state == "suppressed" || state == "duplicate";
}

std::string pg_time(core::clock::time_point t) {
  using namespace std::chrono;
  const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  auto secs = us / 1'000'000;
  auto frac = us % 1'000'000;
  if (frac < 0) { // before 1970: keep the fraction positive
    frac += 1'000'000;
    --secs;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[48];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06lldZ", static_cast<long long>(frac));
  return buf;
}

core::clock::time_point from_epoch_us(std::int64_t us) {
  return core::clock::time_point{
      std::chrono::duration_cast<core::clock::duration>(std::chrono::microseconds{us})};
}

std::string clean_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool ascii = true;
  for (char c : s) {
    if (c == '\0') continue;
    ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    out.push_back(c);
  }
  if (ascii) return out;
  // Replace invalid UTF-8 here, exactly as the JSON parameter would, so that a request
  // key read back from PostgreSQL compares equal to the one we sent.
  const std::string quoted =
      nlohmann::json(out).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return nlohmann::json::parse(quoted).get<std::string>();
}

std::string to_param(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace iaposte::store::detail
