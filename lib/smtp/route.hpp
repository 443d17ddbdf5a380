// Where a message goes: recipients grouped by domain, MX targets in order, when to try the next.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/mx.hpp"
#include "smtp/client.hpp"

namespace iaposte::smtp::route {

enum class mode {
  relay,  // every message to one smarthost (relay_config)
  direct, // each recipient domain to its MX hosts
};

struct domain_group {
  // In A-labels, lower-cased: what DNS is asked, and the key of routing and shaping settings
  // ("xn--exemple-t-i4ab.fr"); "[192.0.2.1]" kept for an address literal; empty if none.
  std::string domain;
  std::vector<std::string> recipients; // as given, in envelope order
};

// The domain of an address (after the last '@'), in A-labels, lower-cased: "Bob@Example.COM" →
// example.com, "hélène@Exemple-Été.fr" → xn--exemple-t-i4ab.fr.
std::string recipient_domain(std::string_view address);

// Recipients by domain, domains in order of first appearance (stable: the caller's order).
std::vector<domain_group> group_by_domain(const std::vector<std::string>& recipients);

// "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3): the address; nullopt otherwise.
std::optional<std::string> address_literal(std::string_view domain);

// A per-destination setting: the exact domain, else the nearest parent given as ".example.com",
// else `fallback`.
template <typename T>
const T& lookup(const std::map<std::string, T, std::less<>>& m, std::string_view domain,
                const T& fallback) {
  if (auto it = m.find(domain); it != m.end()) return it->second;
  for (auto dot = domain.find('.'); dot != std::string_view::npos; dot = domain.find('.', dot + 1))
    if (auto it = m.find(domain.substr(dot)); it != m.end()) return it->second;
  return fallback;
}

// One address of one MX host, in the order they are tried.
struct target {
  std::string host;    // MX name (for TLS verification and logs)
  std::string address; // textual IP
  std::uint16_t preference = 0;
};

// Every address of every host in MX order, at most `max` (Postfix's smtp_mx_address_limit).
std::vector<target> targets(const dns::mx_result& mx, std::size_t max);

// After a failed attempt on one MX address: whether the next one may be tried. Only when the
// message cannot have reached this server: a failure of the site (failure_scope::site:
// resolve, connect, the TLS handshake, timeouts and 4xx before MAIL: greeting, EHLO/HELO,
// STARTTLS), and a required STARTTLS the server does not offer (Postfix defers that one too).
// A 5xx greeting, AUTH, or anything from MAIL on decides. Reads the outcome's data only.
bool try_next_host(const outcome& o);

} // namespace iaposte::smtp::route
