// A small blocking HTTP/1.1 client over POSIX sockets, with a deadline on every read, so that
// the admin tests talk to the server through real connections and never hang.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace iaposte::admin::test {

struct reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers; // names in lower case
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class client {
public:
  explicit client(std::uint16_t port); // connects to 127.0.0.1; throws on failure
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends everything; false when the server is gone.
  bool send(std::string_view bytes);
  // The next response; nullopt when the connection ends or the deadline passes first.
  std::optional<reply> receive(std::chrono::milliseconds deadline = std::chrono::seconds(5));
  // One keep-alive request with an optional bearer token and body.
  std::optional<reply> request(std::string_view method, std::string_view target,
                               std::string_view token = {}, std::string_view body = {});
  // True when the server closes the connection (EOF or reset) within the deadline, without
  // sending anything more.
  bool closed_within(std::chrono::milliseconds deadline);

private:
  // Appends what arrives to in_; 0 on EOF/reset, -1 when the deadline passed.
  int fill(std::chrono::steady_clock::time_point until);
  int fd_ = -1;
  std::string in_;
};

// One request on its own connection.
std::optional<reply> fetch(std::uint16_t port, std::string_view method, std::string_view target,
                           std::string_view token = {}, std::string_view body = {});

// A request head with `Host` and, if given, the bearer token.
std::string request_head(std::string_view method, std::string_view target,
                         std::string_view token = {}, std::size_t content_length = 0);

} // namespace iaposte::admin::test
