// RFC 3339 timestamps: written in UTC with milliseconds, read with Z or a ±hh:mm offset.
#include <cstdint>
#include <cstdio>

#include "core/status.hpp"

namespace iaposte::core {
namespace {

using namespace std::chrono;

bool read_digits(std::string_view s, std::size_t& pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  pos += n;
  out = v;
  return true;
}

bool expect(std::string_view s, std::size_t& pos, std::string_view chars) {
  if (pos >= s.size() || chars.find(s[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

} // namespace

std::string format_time(clock::time_point t) {
  auto ms = floor<milliseconds>(t);
  auto day = floor<days>(ms);
  year_month_day ymd{day};
  hh_mm_ss hms{ms - day};
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                int(hms.minutes().count()), int(hms.seconds().count()),
                int(hms.subseconds().count()));
  return buf;
}

// RFC 3339 §5.6 date-time: full-date "T" full-time, where T and Z may be lower
// case; a leap second (:60) is accepted and lands on the next second.
std::optional<clock::time_point> parse_time(std::string_view s) {
  std::size_t pos = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!read_digits(s, pos, 4, y) || !expect(s, pos, "-") || !read_digits(s, pos, 2, mo) ||
      !expect(s, pos, "-") || !read_digits(s, pos, 2, d) || !expect(s, pos, "Tt") ||
      !read_digits(s, pos, 2, h) || !expect(s, pos, ":") || !read_digits(s, pos, 2, mi) ||
      !expect(s, pos, ":") || !read_digits(s, pos, 2, sec))
    return std::nullopt;
  std::int64_t frac_ns = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 9) frac_ns = frac_ns * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (auto i = digits; i < 9; ++i)
      frac_ns *= 10;
  }
  int offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = 0, om = 0;
    if (!read_digits(s, pos, 2, oh) || !expect(s, pos, ":") || !read_digits(s, pos, 2, om) ||
        oh > 23 || om > 59)
      return std::nullopt;
    offset_min = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;

  year_month_day ymd{year{y}, month{unsigned(mo)}, day{unsigned(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::int64_t total = std::int64_t(sys_days{ymd}.time_since_epoch().count()) * 86400 + h * 3600 +
                       mi * 60 + sec - std::int64_t(offset_min) * 60;
  // The clock counts nanoseconds in 64 bits: roughly the years 1678 to 2262.
  constexpr auto limit = duration_cast<seconds>(clock::duration::max()).count() - 1;
  if (total > limit || total < -limit) return std::nullopt;
  return clock::time_point{duration_cast<clock::duration>(seconds{total}) +
                           duration_cast<clock::duration>(nanoseconds{frac_ns})};
}

} // namespace iaposte::core
