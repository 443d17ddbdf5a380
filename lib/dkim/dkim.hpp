// DKIM signing (RFC 6376) with rsa-sha256 and ed25519-sha256 (RFC 8463): keys, signer, keygen.
//
// Written on OpenSSL 3 (EVP) rather than Debian's libopendkim 2.11, which does sign both
// algorithms correctly (checked with dkimpy) but takes the private key as bytes in every
// dkim_sign() call and parses it again for each message: PEM_read_bio_PrivateKey costs about
// 700 us in OpenSSL 3, i.e. RSA-2048 at ~3 x and Ed25519 at ~15 x their raw signing time, for
// thousands of messages per second. Here a key is parsed once, when it is loaded, and shared
// (read-only) by every signature. The canonicalisation (relaxed/relaxed, RFC 6376 §3.4.2 and
// §3.4.4) is in canon.cpp, with a fuzz target (tests/fuzz/fuzz_dkim.cpp).
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace iaposte::dkim {

// Every failure: a key that cannot be used, a message that cannot be signed. The text names
// the domain, selector and file, never the key material.
class error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

enum class algorithm { rsa_sha256, ed25519_sha256 };

// "rsa-sha256" / "ed25519-sha256" (the a= value).
std::string_view to_string(algorithm a);
// "rsa", "rsa-sha256", "ed25519", "ed25519-sha256"; throws dkim::error otherwise.
algorithm parse_algorithm(std::string_view s);

// One signing identity of a tenant: d=, s=, the algorithm and its private key.
struct key_config {
  std::string domain;   // d=, e.g. "acme.example" (ASCII, A-labels for IDNs)
  std::string selector; // s=, e.g. "2026a"; the record is at selector._domainkey.domain
  algorithm algo = algorithm::rsa_sha256;
  // PEM private key (PKCS#8 "PRIVATE KEY", or PKCS#1 "RSA PRIVATE KEY"), unencrypted. An
  // absolute path: the caller resolves a relative name against $CREDENTIALS_DIRECTORY (as
  // lib/config does for its secret files); a relative path is refused here.
  std::string key_file;
  // x= = t= + expire_after when positive; no x= otherwise (RFC 6376 §3.5).
  std::chrono::seconds expire_after{0};
};

// The TXT record that publishes a public key (RFC 6376 §3.6.1, RFC 8463 §4.2).
struct dns_record {
  std::string name;  // selector._domainkey.domain (no trailing dot)
  std::string value; // "v=DKIM1; k=rsa; p=..." in one piece
  // The value cut into character-strings of at most 255 octets (RFC 1035 §3.3.14), as a zone
  // file or a DNS provider's API wants it; their concatenation is `value`.
  std::vector<std::string> strings() const;
  // One zone-file line: `name. IN TXT ( "..." "..." )`.
  std::string zone_line() const;
};

// A parsed private key with its identity. Immutable; copies share the key; usable from any
// number of threads at once.
class signing_key {
public:
  // Reads and checks key_file. Errors: empty or relative path, a file that is missing,
  // unreadable or not a PEM private key, an encrypted key, a key of the other algorithm, an
  // RSA key under 1024 bits, a domain or selector that is not a DNS name.
  static signing_key load(const key_config& cfg);
  // The same checks on PEM text already in memory (cfg.key_file only names it in errors).
  static signing_key from_pem(const key_config& cfg, std::string_view pem);

  const std::string& domain() const;
  const std::string& selector() const;
  algorithm algo() const;
  int bits() const; // the RSA modulus size; for Ed25519 what OpenSSL reports (253)
  // Non-empty when the key is usable but weak or unusual (an RSA key of 1024 to 2047 bits, or
  // over 4096): the caller logs it once, at load.
  const std::string& warning() const;
  // The record that must be published for signatures made with this key to verify.
  dns_record public_record() const;

  struct impl;

private:
  friend class signer;
  explicit signing_key(std::shared_ptr<const impl> p) : impl_(std::move(p)) {}
  std::shared_ptr<const impl> impl_;
};

// Signs messages with one or several keys (typically an RSA and an Ed25519 key of the same
// domain, so that verifiers that know only RSA still pass). Immutable after construction:
// one instance may be used from several threads at once.
class signer {
public:
  explicit signer(std::vector<signing_key> keys);

  // The message with one DKIM-Signature header field per key prepended, in key order
  // (c=relaxed/relaxed, t= from `now`, no l=). `message` is what will be sent: CRLF line ends,
  // not dot-stuffed (mime::compose's output). Signed header fields, those present only:
  // From (over-signed: listed once more than it occurs, so that no From can be added),
  // To, Cc, Subject, Date, Message-ID, MIME-Version, Content-Type, Reply-To,
  // List-Unsubscribe, List-Unsubscribe-Post. Deterministic for a given message and time.
  // Throws dkim::error on a message that transport would alter (a bare CR or LF) or that
  // has a header line which is not a field; without keys, returns the message unchanged.
  std::string sign(std::string_view message, std::chrono::system_clock::time_point now) const;

  const std::vector<signing_key>& keys() const { return keys_; }

private:
  std::vector<signing_key> keys_;
};

// A new key for `iaposte dkim keygen`: RSA 2048 bits or Ed25519; the private key as PKCS#8
// PEM and the record to publish.
struct generated_key {
  std::string private_key_pem;
  dns_record record;
};
generated_key keygen(algorithm a, std::string_view selector, std::string_view domain);

} // namespace iaposte::dkim
