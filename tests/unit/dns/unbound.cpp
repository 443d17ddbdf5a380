// Starts unbound as the current user in a temp dir with a generated unbound.conf.
#include "unbound.hpp"

#include <fstream>

namespace iaposte::dns::test {

unbound_server::unbound_server(const std::vector<std::string>& lines)
    : port_(smtp::test::free_port()) {
  std::ofstream conf(dir_ / "unbound.conf");
  conf << "server:\n"
       << "  interface: 127.0.0.1@" << port_ << "\n"
       << "  do-daemonize: no\n  chroot: \"\"\n  username: \"\"\n"
       << "  directory: \"" << dir_.path().string() << "\"\n"
       << "  pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n"
       << "  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n"
       << "  module-config: \"iterator\"\n"; // no validator: no trust anchor to fetch
  for (const auto& l : lines)
    conf << "  " << l << "\n";
  conf.close();
  proc_.emplace(
      std::vector<std::string>{"/usr/sbin/unbound", "-d", "-c", (dir_ / "unbound.conf").string()},
      dir_ / "unbound.log");
  proc_->wait_for_port(port_); // it listens on TCP too
}

std::string unbound_server::log() const {
  return proc_->log();
}

std::vector<std::string> routing_zone() {
  std::vector<std::string> zone{
      R"(local-zone: "test." static)",
      R"(local-data: "pref.test. MX 20 mx20.pref.test.")",
      R"(local-data: "pref.test. MX 10 mx10.pref.test.")",
      R"(local-data: "pref.test. MX 5 mx5.pref.test.")",
      R"(local-data: "mx5.pref.test. A 127.0.0.5")",
      R"(local-data: "mx10.pref.test. A 127.0.0.10")",
      R"(local-data: "mx10.pref.test. AAAA ::10")",
      R"(local-data: "mx20.pref.test. A 127.0.0.20")",
      R"(local-data: "equal.test. MX 10 e1.equal.test.")",
      R"(local-data: "equal.test. MX 10 e2.equal.test.")",
      R"(local-data: "equal.test. MX 10 e3.equal.test.")",
      R"(local-data: "equal.test. MX 10 e4.equal.test.")",
      R"(local-data: "equal.test. MX 30 last.equal.test.")",
      R"(local-data: "e1.equal.test. A 127.0.1.1")",
      R"(local-data: "e2.equal.test. A 127.0.1.2")",
      R"(local-data: "e3.equal.test. A 127.0.1.3")",
      R"(local-data: "e4.equal.test. A 127.0.1.4")",
      R"(local-data: "last.equal.test. A 127.0.1.30")",
      R"(local-data: "nomx.test. A 127.0.0.4")",
      R"(local-data: "nullmx.test. MX 0 .")",
      R"(local-data: "noaddr.test. MX 10 missing.test.")",
      R"(local-data: "failover.test. MX 10 down.failover.test.")",
      R"(local-data: "failover.test. MX 20 up.failover.test.")",
      R"(local-data: "down.failover.test. A 127.0.0.2")",
      R"(local-data: "up.failover.test. A 127.0.0.3")",
      R"(local-data: "greet4.test. MX 10 g4.greet4.test.")",
      R"(local-data: "greet4.test. MX 20 up.failover.test.")",
      R"(local-data: "g4.greet4.test. A 127.0.0.7")",
      R"(local-data: "greet5.test. MX 10 g5.greet5.test.")",
      R"(local-data: "greet5.test. MX 20 up.failover.test.")",
      R"(local-data: "g5.greet5.test. A 127.0.0.6")",
      R"(local-data: "rcpt4.test. MX 10 r4.rcpt4.test.")",
      R"(local-data: "rcpt4.test. MX 20 up.failover.test.")",
      R"(local-data: "r4.rcpt4.test. A 127.0.0.8")",
      // exemple-été.test, in A-labels as DNS has it; its MX on 127.0.0.1, where a test's
      // aiosmtpd listens (routing.mx_port).
      R"(local-data: "xn--exemple-t-i4ab.test. MX 10 mx.xn--exemple-t-i4ab.test.")",
      R"(local-data: "mx.xn--exemple-t-i4ab.test. A 127.0.0.1")",
      R"(local-zone: "refused.test." refuse)",
      // Forwarded to a port where nothing listens: unbound answers SERVFAIL.
      R"(local-zone: "servfail.test." transparent)",
      "do-not-query-localhost: no",
      "infra-cache-max-rtt: 100",
      "outbound-msg-retry: 1",
      "forward-zone:",
      R"(  name: "servfail.test.")",
      "  forward-addr: 127.0.0.1@9",
  };
  // big.test: 30 MX with long names, over 512 bytes: a truncated UDP answer, then TCP.
  // Inserted ahead of forward-zone: (a clause of its own) so that they stay in server:.
  std::vector<std::string> big;
  for (int i = 1; i <= 30; ++i) {
    std::string host =
        "mx" + std::to_string(i) + ".a-rather-long-label-to-fill-the-answer.big.test.";
    big.push_back("local-data: \"big.test. MX " + std::to_string(i) + " " + host + "\"");
    big.push_back("local-data: \"" + host + " A 127.0.2." + std::to_string(i) + "\"");
  }
  zone.insert(zone.begin(), big.begin(), big.end());
  return zone;
}

} // namespace iaposte::dns::test
