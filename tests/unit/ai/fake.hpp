// The fake OpenAI-compatible server (tests/peers/fake_openai.py) as a child process, and its
// control endpoints over a plain socket.
#pragma once

#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "../smtp/support.hpp"

namespace iaposte::ai::test {

namespace test = iaposte::smtp::test;

class fake_openai {
public:
  explicit fake_openai(std::vector<std::string> extra = {})
      : log_(dir_ / "fake.log"), proc_(argv(std::move(extra)), log_) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string out = test::read_file(log_);
      auto nl = out.find('\n');
      if (nl != std::string::npos && nl > 0 && std::isdigit(static_cast<unsigned char>(out[0]))) {
        port_ = static_cast<std::uint16_t>(std::stoi(out.substr(0, nl)));
        return;
      }
      if (!proc_.running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("fake_openai did not start: " + test::read_file(log_));
  }

  std::uint16_t port() const { return port_; }
  std::string base_url(const std::string& scheme = "http",
                       const std::string& host = "127.0.0.1") const {
    return scheme + "://" + host + ":" + std::to_string(port_) + "/v1";
  }

  // Behaviours for the next requests ({"kind": "429", "retry_after": "1"}, ...).
  void queue(const nlohmann::json& behaviours) {
    call("POST", "/_control", {{"queue", behaviours}});
  }
  void set_default(const nlohmann::json& b) { call("POST", "/_control", {{"default", b}}); }
  nlohmann::json requests() { return call("GET", "/_requests", nullptr); }
  std::string log() const { return test::read_file(log_); }

private:
  static std::vector<std::string> argv(std::vector<std::string> extra) {
    std::vector<std::string> a{"/usr/bin/python3", IAPOSTE_TEST_DATA "/../peers/fake_openai.py"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Plain HTTP only: the control endpoints of a TLS fake are not used by the tests.
  nlohmann::json call(const std::string& method, const std::string& path,
                      const nlohmann::json& body) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      throw std::runtime_error("fake_openai control: cannot connect");
    }
    const std::string payload = body.is_null() ? "" : body.dump();
    std::string req =
        method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(payload.size()) +
        "\r\n\r\n" + payload;
    (void)::write(fd, req.data(), req.size());
    std::string resp;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
      resp.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    auto sep = resp.find("\r\n\r\n");
    if (sep == std::string::npos) throw std::runtime_error("fake_openai control: bad response");
    return nlohmann::json::parse(resp.substr(sep + 4));
  }

  test::temp_dir dir_;
  std::filesystem::path log_;
  test::child_process proc_;
  std::uint16_t port_ = 0;
};

} // namespace iaposte::ai::test
