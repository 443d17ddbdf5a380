// Puts MX answers in delivery order and checks names and nameserver addresses (pure).
#include "dns/mx.hpp"

#include <algorithm>
#include <set>

#include <arpa/inet.h>

namespace iaposte::dns {

std::string normalize_domain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty() || domain.size() > 253) return {};
  std::string out;
  out.reserve(domain.size());
  std::size_t label = 0;
  for (char c : domain) {
    if (c == '.') {
      if (label == 0) return {}; // empty label: "a..b", ".a"
      label = 0;
      out += c;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok || ++label > 63) return {};
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

bool is_null_mx(const std::vector<mx_record>& records) {
  return records.size() == 1 && records[0].preference == 0 &&
         (records[0].host.empty() || records[0].host == ".");
}

std::vector<mx_record> order_mx(std::vector<mx_record> records, std::mt19937& rng) {
  std::erase_if(records, [](const mx_record& r) { return r.host.empty() || r.host == "."; });
  std::shuffle(records.begin(), records.end(), rng); // then a stable sort keeps ties random
  std::stable_sort(records.begin(), records.end(), [](const mx_record& a, const mx_record& b) {
    return a.preference < b.preference;
  });
  std::set<std::string> seen;
  std::erase_if(records, [&](const mx_record& r) { return !seen.insert(r.host).second; });
  return records;
}

std::string nameserver_csv_entry(std::string_view text) {
  std::string host(text), port;
  if (!text.empty() && text.front() == '[') { // [v6]:port
    auto close = text.find(']');
    if (close == std::string_view::npos) return {};
    host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return {};
      port = std::string(rest.substr(1));
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) { // v4:port
    auto colon = text.find(':');
    host = std::string(text.substr(0, colon));
    port = std::string(text.substr(colon + 1));
  }
  if (!port.empty()) {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return {};
    int p = std::stoi(port);
    if (p < 1 || p > 65535) return {};
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return port.empty() ? host : host + ':' + port;
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1)
    return port.empty() ? host : '[' + host + "]:" + port;
  return {};
}

} // namespace iaposte::dns
