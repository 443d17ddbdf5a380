// The aiosmtpd peer (peer_tls_auth.py) as a child process, and what it captured.
#pragma once

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "support.hpp"

namespace iaposte::smtp::test {

struct captured {
  std::string content; // as received, un-dot-stuffed
  std::string meta;    // the JSON the peer wrote
  bool has(const std::string& json_fragment) const {
    return meta.find(json_fragment) != std::string::npos;
  }
};

// peer_tls_auth.py on a free port, run with Debian's python3 (the one with aiosmtpd).
class aiosmtpd_peer {
public:
  explicit aiosmtpd_peer(std::vector<std::string> flags) : port_(free_port()) {
    std::vector<std::string> argv{"/usr/bin/python3",
                                  std::filesystem::path(IAPOSTE_TEST_DATA).parent_path() /
                                      "unit/smtp/peer_tls_auth.py",
                                  "--listen",
                                  "127.0.0.1:" + std::to_string(port_),
                                  "--maildir",
                                  (dir_ / "mail").string()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    proc_.emplace(argv, dir_ / "peer.log");
    proc_->wait_for_port(port_);
  }
  std::uint16_t port() const { return port_; }

  std::vector<captured> messages() const {
    std::vector<captured> out;
    for (int i = 1;; ++i) {
      char base[16];
      std::snprintf(base, sizeof base, "%04d", i);
      std::filesystem::path meta = dir_ / "mail" / (std::string(base) + ".json");
      if (!std::filesystem::exists(meta)) break;
      out.push_back({read_file(dir_ / "mail" / (std::string(base) + ".eml")), read_file(meta)});
    }
    return out;
  }
  std::string log() const { return proc_->log(); }

private:
  temp_dir dir_;
  std::uint16_t port_;
  std::optional<child_process> proc_;
};

} // namespace iaposte::smtp::test
