// The parsed key behind dkim::signing_key and the OpenSSL helpers key.cpp, sign.cpp and
// keygen.cpp share (internal to lib/dkim).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/evp.h>

#include "dkim/dkim.hpp"

namespace iaposte::dkim {

namespace detail {
struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

// Base64 without line breaks (RFC 4648 §4), as DKIM tags and TXT records want it.
std::string base64(const unsigned char* data, std::size_t n);

// A domain or selector as a DNS name: dot-separated labels of letters, digits and hyphens
// (RFC 6376 §3.1 and §3.5), 63 octets per label, 253 in all. Throws dkim::error naming `what`.
void check_dns_name(std::string_view what, std::string_view value);

// The record publishing `key`'s public half (RFC 6376 §3.6.1; RFC 8463 §4.2 for Ed25519).
dns_record record_for(EVP_PKEY* key, algorithm a, std::string_view selector,
                      std::string_view domain);

// The reason of OpenSSL's last error (never key material), and the thread's queue cleared.
std::string openssl_reason();
} // namespace detail

// Parsed once at load; read-only afterwards, so several threads may sign with it at once
// (OpenSSL 3 allows concurrent use of an EVP_PKEY that nobody modifies).
struct signing_key::impl {
  std::string domain;
  std::string selector;
  algorithm algo = algorithm::rsa_sha256;
  int bits = 0;
  std::string warning;
  std::chrono::seconds expire_after{0};
  detail::pkey_ptr pkey;
};

} // namespace iaposte::dkim
