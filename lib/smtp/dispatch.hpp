// The delivery front: relay or direct MX routing, per-host client pools, traffic shaping.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "dns/resolver.hpp"
#include "smtp/client.hpp"
#include "smtp/route.hpp"
#include "smtp/shaping.hpp"

namespace iaposte::smtp {

struct direct_config {
  std::uint16_t port = 25; // MX delivery is port 25; tests point it elsewhere
  // TLS per destination domain ("example.com", or ".example.com" for its subdomains); none,
  // opportunistic or required. `required` checks the certificate against the MX host name.
  tls_mode tls = tls_mode::opportunistic;
  std::map<std::string, tls_mode, std::less<>> tls_policies;
  std::size_t max_addresses = 5; // MX addresses tried per message (Postfix: smtp_mx_address_limit)
  std::chrono::milliseconds client_idle_timeout{300000}; // an unused per-host pool is dropped
  dns::resolver_config dns;
};

struct routing_config {
  route::mode mode = route::mode::relay;
  // Relay mode: the relay. Direct mode: the template of every per-host client (HELO name,
  // timeouts, CA file, pool sizes); its host, port, tls, user and password are not used.
  relay_config smtp;
  direct_config direct;
  shaping::config shaping; // destination: the recipient domain (direct) or the relay host
};

// What happened to the recipients of one domain (relay mode: one group per domain as well,
// all sharing the relay's outcome).
struct domain_outcome {
  std::string domain;
  std::vector<std::string> recipients;
  smtp::outcome outcome;
  std::string host; // "mx1.example.com[192.0.2.1]" that decided it; empty when none was reached
};

struct dispatch_result {
  std::vector<domain_outcome> domains;

  // One outcome for callers that keep one status per message: sent when every domain was;
  // else the first transient one (the message is retried); else the first permanent one.
  smtp::outcome overall() const;
};

// What one send did, recipient by recipient: the one result a caller acts on.
struct verdict {
  std::vector<std::string> delivered;    // have the message (envelope spelling)
  std::vector<recipient_result> bounced; // refused for good, each with the reply that decided
  // Refused for now: what a retry carries, and only that (the delivered ones must not get
  // the message twice).
  std::vector<recipient_result> retry;
  // The message as a whole, for logs and the status event (its `recipients` empty): sent when
  // some recipient got it; else the first transient domain's outcome; else the first
  // permanent one.
  outcome decided;
};
// Every domain's recipients, each in one of the three lists (a domain that failed before
// RCPT: all its recipients with the domain's outcome), in envelope order per list.
verdict judge(const dispatch_result& r);

// Threading: as smtp::client (one executor, no concurrent handlers; destroy after every
// send() has completed).
class dispatcher {
public:
  // Throws std::invalid_argument / std::runtime_error for a bad DNS configuration (start-up).
  dispatcher(boost::asio::any_io_executor ex, routing_config cfg);
  ~dispatcher();
  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;

  // Delivers one message (CRLF, not dot-stuffed) to every recipient of `env`: waits for the
  // shaping permits of (destination, tenant), then relay: one client.send(); direct: per
  // domain, MX lookup, then the MX addresses in order until one decides. Never throws for
  // network, DNS or protocol failures.
  // `dot` (optional, see dot_gate): its start and confirm run in each transaction (in direct
  // mode, one per destination domain, at once).
  boost::asio::awaitable<dispatch_result> send(const envelope& env, std::string_view message,
                                               std::string_view tenant = {},
                                               const dot_gate* dot = nullptr);
  // Relay mode: client::probe(). Direct mode: nothing to probe ahead (sent: ok).
  boost::asio::awaitable<outcome> probe();

  void close_idle();

  // For tests and metrics.
  std::size_t clients() const;            // per-host clients alive (relay mode: 1)
  std::size_t connections_opened() const; // over every client alive
  shaping::gate& shaping();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace iaposte::smtp
