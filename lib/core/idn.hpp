// Internationalised domains and addresses (RFC 6530-6532, IDNA2008 via libidn2): their forms.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace iaposte::core::idn {

// True when every byte is below 0x80.
bool is_ascii(std::string_view s);

// An ASCII host name as RFC 5321 §4.1.2 has it: labels of letters, digits and hyphens, 1-63
// octets, not starting or ending with a hyphen, at most 253 octets, no empty label (so no
// trailing dot). A-labels ("xn--...") are host names like any other.
bool host_name(std::string_view domain);

// The form a domain is kept in (in the request, in headers: RFC 6532 §3.2). A domain with
// non-ASCII characters is checked with IDNA2008 (UTS #46 non-transitional mapping, NFC) and given
// back in U-labels, lower case: "Exemple-ÉTÉ.FR" → "exemple-été.fr"; its A-label form must be a
// host name. An ASCII domain comes back as given when it is a host name: A-labels stay A-labels
// (the producer chose the form that every server takes). Empty, with `error` set to a readable
// reason, when the domain is not acceptable. Address literals are not handled here.
std::string normalise_domain(std::string_view domain, std::string* error = nullptr);

// The domain in A-labels: what DNS is asked and what a server without SMTPUTF8 is sent:
// "exemple-été.fr" → "xn--exemple-t-i4ab.fr". An ASCII domain (A-labels and address literals
// included) comes back as given. Empty, with `error` set, when a non-ASCII domain is not a valid
// IDNA2008 name.
std::string to_ascii(std::string_view domain, std::string* error = nullptr);

// The local part (before the last '@') has a byte >= 0x80 (RFC 6531 §3.3): only a server that
// offers SMTPUTF8 can take such an address, which has no ASCII form.
bool utf8_local_part(std::string_view email);

// "local@domain" with the domain in A-labels, for a server without SMTPUTF8; nullopt when the
// local part is not ASCII or the domain is not a valid IDNA2008 name.
std::optional<std::string> ascii_address(std::string_view email);

// One key per mailbox, whatever the spelling of its domain: the local part as is (only its
// domain interprets it, RFC 5321 §2.4), '@', the domain in A-labels and lower case.
std::string mailbox_key(std::string_view email);

} // namespace iaposte::core::idn
