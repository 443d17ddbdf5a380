// Groups recipients by domain, lays out MX targets, and decides when the next MX may be tried.
#include "smtp/route.hpp"

#include <algorithm>

#include <arpa/inet.h>

#include "core/idn.hpp"

namespace iaposte::smtp::route {

std::string recipient_domain(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return {};
  // DNS knows A-labels only (RFC 5890 §2.3.2.1); one that cannot be made stays as given, and its
  // lookup fails.
  std::string d = core::idn::to_ascii(address.substr(at + 1));
  if (d.empty()) d = std::string(address.substr(at + 1));
  for (char& c : d)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (!d.empty() && d.back() == '.') d.pop_back();
  return d;
}

std::vector<domain_group> group_by_domain(const std::vector<std::string>& recipients) {
  std::vector<domain_group> out;
  for (const auto& r : recipients) {
    std::string d = recipient_domain(r);
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& g) { return g.domain == d; });
    if (it == out.end()) it = out.insert(out.end(), domain_group{std::move(d), {}});
    it->recipients.push_back(r);
  }
  return out;
}

std::optional<std::string> address_literal(std::string_view domain) {
  if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return std::nullopt;
  std::string inner(domain.substr(1, domain.size() - 2));
  unsigned char buf[16];
  if (inner.rfind("ipv6:", 0) == 0 || inner.rfind("IPv6:", 0) == 0) {
    inner.erase(0, 5);
    if (inet_pton(AF_INET6, inner.c_str(), buf) == 1) return inner;
    return std::nullopt;
  }
  if (inet_pton(AF_INET, inner.c_str(), buf) == 1) return inner;
  return std::nullopt;
}

std::vector<target> targets(const dns::mx_result& mx, std::size_t max) {
  std::vector<target> out;
  for (const auto& h : mx.hosts)
    for (const auto& a : h.addresses) {
      if (out.size() >= max) return out;
      out.push_back({h.name, a, h.preference});
    }
  return out;
}

bool try_next_host(const outcome& o) {
  if (o.kind == outcome_kind::sent || o.scope != failure_scope::site) return false;
  // AUTH is the account's business: every MX of a domain would say the same.
  if (o.kind == outcome_kind::transient) return o.at != phase::auth;
  // Permanent: only our own TLS policy's refusal, decided without a reply (the server does
  // not offer STARTTLS); another MX of the domain may offer it.
  return o.at == phase::starttls && o.last.code == 0;
}

} // namespace iaposte::smtp::route
