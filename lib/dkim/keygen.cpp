// New key pairs and the DNS TXT records that publish their public halves.
#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dkim/key.hpp"

namespace iaposte::dkim {

std::vector<std::string> dns_record::strings() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < value.size(); i += 255)
    out.push_back(value.substr(i, 255));
  return out;
}

std::string dns_record::zone_line() const {
  std::string out = name + ". IN TXT (";
  for (const auto& s : strings())
    out += " \"" + s + "\""; // the value has no '"' nor '\\' to escape: base64 and tags only
  return out + " )";
}

namespace detail {

dns_record record_for(EVP_PKEY* key, algorithm a, std::string_view selector,
                      std::string_view domain) {
  std::string p;
  if (a == algorithm::ed25519_sha256) {
    // RFC 8463 §4.2: the raw 32-octet public key, not a SubjectPublicKeyInfo.
    unsigned char raw[32];
    std::size_t n = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &n) != 1 || n != sizeof raw)
      throw error("DKIM: cannot extract the Ed25519 public key (" + openssl_reason() + ")");
    p = base64(raw, n);
  } else {
    // RFC 6376 §3.6.1: an RSA public key as a DER SubjectPublicKeyInfo.
    unsigned char* der = nullptr;
    const int n = i2d_PUBKEY(key, &der);
    if (n <= 0) throw error("DKIM: cannot encode the RSA public key (" + openssl_reason() + ")");
    p = base64(der, static_cast<std::size_t>(n));
    OPENSSL_free(der);
  }
  return {std::string(selector) + "._domainkey." + std::string(domain),
          std::string("v=DKIM1; k=") + (a == algorithm::ed25519_sha256 ? "ed25519" : "rsa") +
              "; p=" + p};
}

} // namespace detail

generated_key keygen(algorithm a, std::string_view selector, std::string_view domain) {
  detail::check_dns_name("selector", selector);
  detail::check_dns_name("domain", domain);
  // RFC 8301 §3.2: 2048 bits, the size every verifier accepts and receivers expect.
  detail::pkey_ptr key(a == algorithm::rsa_sha256
                           ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})
                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) throw error("DKIM: key generation failed (" + detail::openssl_reason() + ")");
  BIO* bio = BIO_new(BIO_s_secmem());
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    BIO_free(bio);
    throw error("DKIM: cannot write the private key (" + detail::openssl_reason() + ")");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  generated_key out;
  out.private_key_pem.assign(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  out.record = detail::record_for(key.get(), a, selector, domain);
  return out;
}

} // namespace iaposte::dkim
