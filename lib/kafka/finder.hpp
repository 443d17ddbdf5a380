// key_finder: a topic looked over by key, for recovery paths.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "kafka/message.hpp"

namespace iaposte::kafka {

// Looks a topic over for messages by key, from a point in time to the end: for recovery
// paths only (is the terminal event of this request already on the status topic?). Reads
// every partition from the first offset at or after `since` up to the end as it was when
// the search began; searches queued meanwhile are answered by one scan. Its own thread and
// its own consumer (assigned partitions, no group, no commits).
class key_finder {
public:
  // `match` decides whether a message with the key counts (e.g. its status).
  using match_fn = std::function<bool(std::string_view payload)>;
  // The first matching message's payload (none: not found), and an error text (empty when
  // the scan completed).
  using done_fn = std::function<void(std::optional<std::string> found, std::string error)>;

  key_finder(std::string brokers, std::string topic, properties extra = {});
  ~key_finder(); // answers the searches still queued with an error
  key_finder(const key_finder&) = delete;
  key_finder& operator=(const key_finder&) = delete;

  // `done` runs on the finder's thread.
  void find(std::string key, std::chrono::system_clock::time_point since, match_fn match,
            done_fn done);

  std::uint64_t scans() const; // completed scans, for tests

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace iaposte::kafka
