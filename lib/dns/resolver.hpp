// Asynchronous MX and address lookups (c-ares driven by Asio): where to deliver a domain's mail.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "dns/mx.hpp"

namespace iaposte::dns {

struct resolver_config {
  // "ip" or "ip:port" ("[v6]:port"); empty: the servers of /etc/resolv.conf.
  std::vector<std::string> nameservers;
  std::chrono::milliseconds timeout{3000}; // first try per server; c-ares backs off after
  int tries = 2;                           // rounds over the server list
  std::size_t max_mx_hosts = 10;           // MX targets whose addresses are looked up
  std::size_t max_in_flight = 100;         // queries sent and unanswered; more wait their turn
};

struct address_result {
  dns::status status = dns::status::transient;
  std::vector<std::string> addresses; // IPv4 first, then IPv6
  std::string error;
};

// How it runs: c-ares is used without threads of its own. Its sockets are watched with
// asio::posix::stream_descriptor (c-ares tells which through its socket-state callback) and
// its retransmission timeouts with one steady_timer; readiness and expiry call
// ares_process_fd(). So no Asio thread ever blocks on DNS, and nothing runs anywhere else.
//
// Threading: like smtp::client, a resolver and its coroutines run on the one executor given
// to the constructor, which must not run handlers concurrently (c-ares channels are not
// thread-safe). Destroy it only after every lookup has completed.
class resolver {
public:
  // Throws std::invalid_argument for a bad nameserver, std::runtime_error when c-ares cannot
  // start (no resolv.conf, out of memory): start-up errors.
  resolver(boost::asio::any_io_executor ex, resolver_config cfg);
  ~resolver();
  resolver(const resolver&) = delete;
  resolver& operator=(const resolver&) = delete;

  // MX hosts of `domain` in delivery order, each with its addresses (RFC 5321 §5.1): ordered by
  // preference, random among equals; no MX → the domain's own A/AAAA as an implicit MX of
  // preference 0; null MX (RFC 7505) → permanent 5.1.10; NXDOMAIN → permanent 5.1.2;
  // SERVFAIL, REFUSED, timeout → transient 4.4.3. Hosts without an address are left out; when
  // none has one: transient if any lookup failed transiently, else permanent 5.4.4.
  // Never throws for DNS failures.
  boost::asio::awaitable<mx_result> resolve_mx(std::string_view domain);

  // A and AAAA of `host` (both asked at once).
  boost::asio::awaitable<address_result> resolve_addresses(std::string_view host);

  // Lookups sent to the servers so far (each A, AAAA or MX query counts once).
  std::size_t queries() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace iaposte::dns
