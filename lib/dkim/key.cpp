// Loading and checking a signing key: the file, its PEM, its type and size, the d= and s=.
#include "dkim/key.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

namespace iaposte::dkim {

namespace detail {

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

void check_dns_name(std::string_view what, std::string_view v) {
  auto bad = [&](const std::string& why) {
    throw error("DKIM " + std::string(what) + " \"" + std::string(v) + "\": " + why);
  };
  if (v.empty()) bad("must be set");
  if (v.size() > 253) bad("longer than 253 octets");
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = std::min(v.find('.', start), v.size());
    const std::string_view label = v.substr(start, dot - start);
    if (label.empty()) bad("has an empty label");
    if (label.size() > 63) bad("has a label longer than 63 octets");
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
        bad("is not a DNS name (letters, digits, '-' and '.' only; IDNs as A-labels)");
    if (label.front() == '-' || label.back() == '-') bad("has a label starting or ending in '-'");
    if (dot == v.size()) break;
    start = dot + 1;
  }
}

std::string openssl_reason() {
  const unsigned long e = ERR_peek_last_error();
  const char* r = e != 0 ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return r != nullptr ? r : "unknown OpenSSL error";
}

} // namespace detail

std::string_view to_string(algorithm a) {
  return a == algorithm::rsa_sha256 ? "rsa-sha256" : "ed25519-sha256";
}

algorithm parse_algorithm(std::string_view s) {
  if (s == "rsa" || s == "rsa-sha256") return algorithm::rsa_sha256;
  if (s == "ed25519" || s == "ed25519-sha256") return algorithm::ed25519_sha256;
  throw error("DKIM algorithm \"" + std::string(s) +
              "\": expected rsa-sha256 (rsa) or ed25519-sha256 (ed25519)");
}

namespace {

// Never prompts for a passphrase (encrypted keys are refused before parsing anyway).
int no_passphrase(char*, int, int, void*) {
  return -1;
}

constexpr std::size_t max_key_file = 64 * 1024; // an RSA-8192 PEM is under 7 KiB

// The file's bytes, with errno's reason on failure; `warning` notes a key others can read.
std::string read_key_file(const std::string& path, std::string& warning) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::strerror(errno));
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } c{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw std::runtime_error(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error("not a regular file");
  if (static_cast<std::size_t>(st.st_size) > max_key_file)
    throw std::runtime_error("is " + std::to_string(st.st_size) + " bytes, too large for a key");
  if ((st.st_mode & 0077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    warning = "the key file is readable by other users (mode " + std::string(mode) +
              "; 0600 or 0400 expected)";
  }
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      OPENSSL_cleanse(data.data(), data.size());
      throw std::runtime_error(std::strerror(e));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  return data;
}

std::string where(const key_config& cfg) {
  return "DKIM key d=" + cfg.domain + " s=" + cfg.selector + " (" +
         (cfg.key_file.empty() ? std::string("in memory") : cfg.key_file) + ")";
}

// The PEM's first BEGIN label ("PRIVATE KEY", "RSA PRIVATE KEY", ...), empty when none.
std::string_view pem_label(std::string_view pem) {
  constexpr std::string_view begin = "-----BEGIN ";
  const std::size_t p = pem.find(begin);
  if (p == std::string_view::npos) return {};
  const std::size_t from = p + begin.size();
  const std::size_t end = pem.find("-----", from);
  if (end == std::string_view::npos || end - from > 40) return {};
  return pem.substr(from, end - from);
}

std::shared_ptr<signing_key::impl> parse_key(const key_config& cfg, std::string_view pem) {
  detail::check_dns_name("domain", cfg.domain);
  detail::check_dns_name("selector", cfg.selector);
  auto fail = [&](const std::string& why) { throw error(where(cfg) + ": " + why); };

  // Messages from the PEM's framing only: the key material is never quoted.
  const std::string_view label = pem_label(pem);
  if (pem.find_first_not_of(" \t\r\n") == std::string_view::npos) fail("the key file is empty");
  if (label.empty()) fail("not a PEM private key (expected -----BEGIN PRIVATE KEY-----)");
  if (label.find("ENCRYPTED") != std::string_view::npos ||
      pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos)
    fail("the private key is encrypted: give it unencrypted and protect the file instead (mode "
         "0600, or systemd's LoadCredential=)");
  if (label == "PUBLIC KEY" || label == "RSA PUBLIC KEY")
    fail("holds a public key; the private key is needed to sign");
  if (label.find("PRIVATE KEY") == std::string_view::npos)
    fail("holds a PEM \"" + std::string(label) + "\", not a private key");
  if (pem.size() > max_key_file) fail("too large for a key");

  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) fail("out of memory");
  detail::pkey_ptr key(PEM_read_bio_PrivateKey(bio, nullptr, no_passphrase, nullptr));
  BIO_free(bio);
  if (!key) {
    const std::string reason = detail::openssl_reason();
    fail("not a readable PEM private key (" + reason + ")");
  }
  ERR_clear_error();

  auto p = std::make_shared<signing_key::impl>();
  p->domain = cfg.domain;
  p->selector = cfg.selector;
  p->algo = cfg.algo;
  p->expire_after = cfg.expire_after;
  p->bits = EVP_PKEY_get_bits(key.get());
  const int type = EVP_PKEY_get_base_id(key.get());
  const bool is_rsa = type == EVP_PKEY_RSA, is_ed25519 = type == EVP_PKEY_ED25519;
  if (!is_rsa && !is_ed25519) {
    const char* name = EVP_PKEY_get0_type_name(key.get());
    fail("holds a key of type " + std::string(name != nullptr ? name : "unknown") +
         "; DKIM signs with RSA (rsa-sha256) or Ed25519 (ed25519-sha256)");
  }
  if (cfg.algo == algorithm::rsa_sha256 && !is_rsa)
    fail("holds an Ed25519 key but the algorithm is rsa-sha256");
  if (cfg.algo == algorithm::ed25519_sha256 && !is_ed25519)
    fail("holds an RSA key but the algorithm is ed25519-sha256");
  // RFC 8301 §3.2: signers MUST use at least 1024 bits and SHOULD use 2048; verifiers MUST
  // accept 1024 to 4096 and may refuse more.
  if (is_rsa && p->bits < 1024)
    fail("RSA key of " + std::to_string(p->bits) +
         " bits: DKIM needs at least 1024 (RFC 8301 §3.2); generate a 2048-bit key");
  if (is_rsa && p->bits < 2048)
    p->warning = "RSA key of " + std::to_string(p->bits) +
                 " bits: some receivers distrust keys under 2048 bits (RFC 8301 §3.2)";
  if (is_rsa && p->bits > 4096)
    p->warning = "RSA key of " + std::to_string(p->bits) +
                 " bits: verifiers need not accept keys over 4096 bits (RFC 8301 §3.2)";
  if (cfg.expire_after.count() < 0) fail("expire_after must not be negative");
  p->pkey = std::move(key);
  return p;
}

} // namespace

signing_key signing_key::from_pem(const key_config& cfg, std::string_view pem) {
  return signing_key(parse_key(cfg, pem));
}

signing_key signing_key::load(const key_config& cfg) {
  if (cfg.key_file.empty()) throw error(where(cfg) + ": key_file is not set");
  if (cfg.key_file.front() != '/')
    throw error(where(cfg) +
                ": key_file must be an absolute path (a relative name is resolved against "
                "$CREDENTIALS_DIRECTORY by the configuration)");
  std::string warning, pem;
  try {
    pem = read_key_file(cfg.key_file, warning);
  } catch (const std::runtime_error& e) {
    throw error(where(cfg) + ": cannot read the key file: " + e.what());
  }
  struct cleanse {
    std::string& s;
    ~cleanse() { OPENSSL_cleanse(s.data(), s.size()); }
  } wipe{pem};
  auto p = parse_key(cfg, pem);
  if (!warning.empty()) p->warning = p->warning.empty() ? warning : p->warning + "; " + warning;
  return signing_key(std::move(p));
}

const std::string& signing_key::domain() const {
  return impl_->domain;
}
const std::string& signing_key::selector() const {
  return impl_->selector;
}
algorithm signing_key::algo() const {
  return impl_->algo;
}
int signing_key::bits() const {
  return impl_->bits;
}
const std::string& signing_key::warning() const {
  return impl_->warning;
}

dns_record signing_key::public_record() const {
  return detail::record_for(impl_->pkey.get(), impl_->algo, impl_->selector, impl_->domain);
}

} // namespace iaposte::dkim
