// IAPOSTE_FAILPOINTS: parsed once; per request, how many times each point has fired.
#include "core/failpoint.hpp"

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace iaposte::core {
namespace {

struct point {
  std::string name, prefix;
  long count = 0;
  std::map<std::string, long> fired; // request_id → times
};

struct registry {
  std::vector<point> points;
  std::mutex mu;

  registry() {
    const char* env = std::getenv("IAPOSTE_FAILPOINTS");
    std::string spec = env ? env : "";
    for (std::size_t b = 0; b < spec.size();) {
      auto e = spec.find(',', b);
      if (e == std::string::npos) e = spec.size();
      std::string item = spec.substr(b, e - b);
      b = e + 1;
      auto c1 = item.find(':');
      auto c2 = c1 == std::string::npos ? c1 : item.find(':', c1 + 1);
      if (c2 == std::string::npos) continue;
      points.push_back({item.substr(0, c1),
                        item.substr(c1 + 1, c2 - c1 - 1),
                        std::strtol(item.c_str() + c2 + 1, nullptr, 10),
                        {}});
    }
  }
};

registry& points() {
  static registry r;
  return r;
}

} // namespace

bool failpoint(std::string_view name, std::string_view request_id) {
  static const bool any = !points().points.empty();
  if (!any) return false;
  auto& r = points();
  std::lock_guard lk(r.mu);
  for (auto& p : r.points) {
    if (p.name != name || request_id.substr(0, p.prefix.size()) != p.prefix) continue;
    long& n = p.fired[std::string(request_id)];
    if (p.count != 0 && n >= p.count) return false;
    ++n;
    return true;
  }
  return false;
}

} // namespace iaposte::core
