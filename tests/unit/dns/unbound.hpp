// A real DNS server for tests: unbound on 127.0.0.1, serving the records a test gives it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../smtp/support.hpp"

namespace iaposte::dns::test {

class unbound_server {
public:
  // `lines` go verbatim into unbound.conf after its server: clause's own settings (so a line
  // may open another clause, such as forward-zone:), e.g.
  // `local-zone: "test." static`, `local-data: "a.test. MX 10 mx1.a.test."`.
  explicit unbound_server(const std::vector<std::string>& lines);
  std::uint16_t port() const { return port_; }
  std::string nameserver() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string log() const;

private:
  smtp::test::temp_dir dir_;
  std::uint16_t port_;
  std::optional<smtp::test::child_process> proc_;
};

// The records the routing tests share (zone "test."):
//   pref.test     MX 10 mx10, MX 20 mx20, MX 5 mx5      (preference order)
//   equal.test    MX 10 e1..e4                           (random among equals)
//   nomx.test     A 127.0.0.4, no MX                     (implicit MX)
//   nullmx.test   MX 0 .                                 (RFC 7505)
//   noaddr.test   MX 10 missing.test (NXDOMAIN target)   (no route)
//   refused.test  REFUSED                                (transient)
//   servfail.test SERVFAIL (forwarded to a dead server)    (transient)
//   failover.test MX 10 down.failover.test (127.0.0.2), MX 20 up.failover.test (127.0.0.3)
//   greet4.test   MX 10 g4 (127.0.0.7), MX 20 up.failover.test   (for a 421 greeting)
//   greet5.test   MX 10 g5 (127.0.0.6), MX 20 up.failover.test   (for a 554 greeting)
//   rcpt4.test    MX 10 r4 (127.0.0.8), MX 20 up.failover.test   (for a 4xx to RCPT)
//   big.test      30 MX mx1..mx30 (127.0.2.N), answer over 512 bytes (TCP)
//   exemple-été.test (xn--exemple-t-i4ab.test) MX 10 mx.xn--exemple-t-i4ab.test (127.0.0.1)
//   nxdomain.test does not exist
std::vector<std::string> routing_zone();

} // namespace iaposte::dns::test
