// Where mail for a domain goes: MX answers put in delivery order (pure, no sockets).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace iaposte::dns {

// How a lookup ended, decided where the DNS answer was read (chasquid's `permanent` flag).
enum class status {
  ok,
  permanent, // NXDOMAIN, null MX, no address at all: the domain cannot receive mail
  transient, // SERVFAIL, REFUSED, timeout, no answer: try again later
};

struct mx_record {
  std::string host; // without the trailing dot; empty for the root (null MX)
  std::uint16_t preference = 0;
};

struct mx_host {
  std::string name; // the MX target, or the domain itself for an implicit MX
  std::uint16_t preference = 0;
  std::vector<std::string> addresses; // IPv4 first, then IPv6 (textual); may be empty
  std::string error;                  // why `addresses` is empty
};

struct mx_result {
  dns::status status = dns::status::transient;
  std::vector<mx_host> hosts; // delivery order; only hosts with addresses when status is ok
  bool implicit = false;      // no MX: the domain's own A/AAAA (RFC 5321 §5.1)
  std::string enhanced;       // RFC 3463 code for a failure: "5.1.10" null MX, "5.1.2", "4.4.3"
  std::string error;          // "nxdomain.test: domain not found (NXDOMAIN)"
};

// Lower-cased, trailing dot removed. Empty when `domain` is not a syntactically usable host
// name (empty, over 253 octets, a label over 63, characters other than letters, digits, '-',
// '_' and '.'): such a lookup is not even attempted.
std::string normalize_domain(std::string_view domain);

// RFC 7505 §3: a single MX of preference 0 whose target is the root ".".
bool is_null_mx(const std::vector<mx_record>& records);

// Preference order, lowest first; equal preferences in random order (RFC 5321 §5.1, so that
// senders spread their load). Null targets among other MX records are dropped, as are
// duplicate targets (kept at their best preference).
std::vector<mx_record> order_mx(std::vector<mx_record> records, std::mt19937& rng);

// A nameserver as given in config: "127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:5353". Returns
// the c-ares CSV form ("127.0.0.1:5353", "[::1]:5353"), empty when the text is not an address.
std::string nameserver_csv_entry(std::string_view text);

} // namespace iaposte::dns
