// The test client: POSIX sockets, poll() for deadlines, Content-Length framing only (the admin
// server always sends it).
#include "support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace iaposte::admin::test {

using clock = std::chrono::steady_clock;

client::client(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("connect: " + std::string(std::strerror(e)));
  }
}

client::~client() {
  if (fd_ >= 0) ::close(fd_);
}

bool client::send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(std::size_t(n));
  }
  return true;
}

int client::fill(clock::time_point until) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
    if (left.count() <= 0) return -1;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, int(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return -1;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    in_.append(buf, std::size_t(n));
    return 1;
  }
}

std::optional<reply> client::receive(std::chrono::milliseconds deadline) {
  const auto until = clock::now() + deadline;
  std::size_t end;
  while ((end = in_.find("\r\n\r\n")) == std::string::npos)
    if (fill(until) <= 0) return std::nullopt;
  reply r;
  const std::string head = in_.substr(0, end);
  in_.erase(0, end + 4);
  // "HTTP/1.1 200 OK"
  if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) return std::nullopt;
  r.status = unsigned(std::stoul(head.substr(9, 3)));
  std::size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    std::size_t next = head.find("\r\n", pos + 2);
    std::string line =
        head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name)
        c = char(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.erase(0, 1);
      r.headers[name] = value;
    }
    pos = next;
  }
  const std::size_t length = std::stoul(
      r.header("content-length").empty() ? std::string("0") : r.header("content-length"));
  while (in_.size() < length)
    if (fill(until) <= 0) return std::nullopt;
  r.body = in_.substr(0, length);
  in_.erase(0, length);
  return r;
}

std::string request_head(std::string_view method, std::string_view target, std::string_view token,
                         std::size_t content_length) {
  std::string s = std::string(method) + " " + std::string(target) +
                  " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: iaposte-test\r\n";
  if (!token.empty()) s += "Authorization: Bearer " + std::string(token) + "\r\n";
  if (content_length) s += "Content-Length: " + std::to_string(content_length) + "\r\n";
  return s + "\r\n";
}

std::optional<reply> client::request(std::string_view method, std::string_view target,
                                     std::string_view token, std::string_view body) {
  if (!send(request_head(method, target, token, body.size()) + std::string(body)))
    return std::nullopt;
  return receive();
}

bool client::closed_within(std::chrono::milliseconds deadline) {
  const auto until = clock::now() + deadline;
  const std::size_t before = in_.size();
  for (;;) {
    int r = fill(until);
    if (r == 0) return in_.size() == before;
    if (r < 0) return false;
  }
}

std::optional<reply> fetch(std::uint16_t port, std::string_view method, std::string_view target,
                           std::string_view token, std::string_view body) {
  client c(port);
  return c.request(method, target, token, body);
}

} // namespace iaposte::admin::test
