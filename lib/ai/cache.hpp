// Response cache pieces (internal): the key (SHA-256) and the in-process LRU with TTL.
#pragma once

#include <chrono>
#include <cstddef>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace iaposte::ai::detail {

// Lowercase hex SHA-256 of `canonical` (the caller passes provider, model, messages and
// parameters serialised in one fixed order).
std::string sha256_hex(std::string_view canonical);

// Least recently used entries go first when full; an expired entry is a miss (and removed).
class lru_cache {
public:
  using clock = std::chrono::steady_clock;
  // Bounded both by entries and by bytes (keys and values); 0 entries disables the cache.
  explicit lru_cache(std::size_t capacity,
                     std::size_t max_bytes = std::numeric_limits<std::size_t>::max())
      : capacity_(capacity), max_bytes_(max_bytes) {}

  std::optional<std::string> get(const std::string& key, clock::time_point now);
  void put(const std::string& key, std::string value, clock::time_point expires);
  std::size_t size() const;
  std::size_t bytes() const;

private:
  struct entry {
    std::string key, value;
    clock::time_point expires;
  };
  mutable std::mutex mu_;
  std::size_t capacity_, max_bytes_, bytes_ = 0;
  std::list<entry> order_; // most recently used first
  std::unordered_map<std::string, std::list<entry>::iterator> index_;
};

} // namespace iaposte::ai::detail
