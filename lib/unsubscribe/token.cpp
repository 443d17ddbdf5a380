// Tokens: the byte layout, base64url (RFC 4648 §5, canonical only), HMAC-SHA256 truncated to
// 16 bytes and checked in constant time against every secret.
#include "unsubscribe/unsubscribe.hpp"

#include <array>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace iaposte::unsubscribe {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Separates the MAC input from any other use of the same secret.
constexpr std::string_view mac_context{"iaposte-unsubscribe\0", 20};

// The shortest token: version, three empty-length bytes... but tenant and address are never
// empty, so at least 1 + 1+1 + 1+1 + 1 + mac_bytes bytes.
constexpr std::size_t min_token_bytes = 6 + mac_bytes;

std::string base64url(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (in.size() - i == 1) {
    const unsigned v = byte(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (in.size() - i == 2) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Only the canonical encoding decodes: a length of 1 mod 4, padding, or unused low bits that
// are not zero are refused, so that no two strings give the same bytes (a changed last
// character never passes as the same token).
std::optional<std::string> unbase64url(std::string_view in, std::string& error) {
  if (in.size() % 4 == 1) {
    error = "not a token: bad length";
    return std::nullopt;
  }
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = sextet(c);
    if (v < 0) {
      error = "not a token: character outside base64url";
      return std::nullopt;
    }
    acc = (acc << 6) | unsigned(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) {
    error = "not a token: non-canonical encoding";
    return std::nullopt;
  }
  return out;
}

std::array<unsigned char, 32> hmac(std::string_view key, std::string_view data) {
  std::string input;
  input.reserve(mac_context.size() + data.size());
  input.append(mac_context);
  input.append(data);
  std::array<unsigned char, 32> out{};
  unsigned n = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), out.data(), &n) ||
      n != out.size())
    throw std::runtime_error("HMAC-SHA256 failed (OpenSSL)");
  return out;
}

void put_field(std::string& out, std::string_view value, const char* what, bool required) {
  if (required && value.empty())
    throw std::invalid_argument(std::string("unsubscribe token: empty ") + what);
  if (value.size() > 255)
    throw std::invalid_argument(std::string("unsubscribe token: ") + what +
                                " longer than 255 bytes");
  for (char c : value)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      throw std::invalid_argument(std::string("unsubscribe token: control character in ") + what);
  out += static_cast<char>(value.size());
  out += value;
}

// Reads one length-prefixed field at `pos`; false when it runs past `end`.
bool get_field(std::string_view bytes, std::size_t& pos, std::size_t end, std::string& out) {
  if (pos >= end) return false;
  const std::size_t n = static_cast<unsigned char>(bytes[pos++]);
  if (n > end - pos) return false;
  out.assign(bytes.substr(pos, n));
  pos += n;
  return true;
}

} // namespace

// --- secrets -------------------------------------------------------------------------------

secret_set::secret_set(std::vector<std::string> secrets) : keys_(std::move(secrets)) {
  try {
    if (keys_.empty()) throw std::invalid_argument("unsubscribe: no secret given");
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i].size() < min_bytes)
        throw std::invalid_argument("unsubscribe: secret " + std::to_string(i) + " has " +
                                    std::to_string(keys_[i].size()) + " bytes, at least " +
                                    std::to_string(min_bytes) + " are needed");
      for (std::size_t j = 0; j < i; ++j)
        if (keys_[j] == keys_[i])
          throw std::invalid_argument("unsubscribe: secret " + std::to_string(i) +
                                      " repeats secret " + std::to_string(j));
    }
  } catch (...) {
    wipe();
    throw;
  }
}

secret_set::~secret_set() {
  wipe();
}

secret_set::secret_set(const secret_set& other) : keys_(other.keys_) {}

secret_set& secret_set::operator=(const secret_set& other) {
  if (this != &other) {
    wipe();
    keys_ = other.keys_;
  }
  return *this;
}

secret_set& secret_set::operator=(secret_set&& other) noexcept {
  if (this != &other) {
    wipe();
    keys_ = std::move(other.keys_);
  }
  return *this;
}

void secret_set::wipe() noexcept {
  for (auto& k : keys_)
    if (!k.empty()) OPENSSL_cleanse(k.data(), k.size());
  keys_.clear();
}

// --- tokens --------------------------------------------------------------------------------

signer::signer(const secret_set& secrets)
    : key_(std::vector<std::string>{secrets.keys().front()}) {}

std::string signer::encode(const subscription& s) const {
  std::string bytes;
  bytes.reserve(4 + s.tenant.size() + s.address.size() + s.list.size() + mac_bytes);
  bytes += static_cast<char>(token_version);
  put_field(bytes, s.tenant, "tenant", true);
  put_field(bytes, s.address, "address", true);
  put_field(bytes, s.list, "list", false);
  const auto mac = hmac(key_.keys().front(), bytes);
  bytes.append(reinterpret_cast<const char*>(mac.data()), mac_bytes);
  return base64url(bytes);
}

verifier::verifier(const secret_set& secrets) : keys_(secrets) {}

verification verifier::verify(std::string_view token) const {
  verification v;
  // 255 * 3 fields + 4 + 16 bytes, in base64: a longer string is not ours.
  if (token.empty()) {
    v.error = "not a token: empty";
    return v;
  }
  if (token.size() > 1100) {
    v.error = "not a token: too long";
    return v;
  }
  auto bytes = unbase64url(token, v.error);
  if (!bytes) return v;
  if (bytes->size() < min_token_bytes) {
    v.error = "not a token: too short";
    return v;
  }
  if (static_cast<unsigned char>((*bytes)[0]) != token_version) {
    v.error = "unknown token version " + std::to_string(static_cast<unsigned char>((*bytes)[0]));
    return v;
  }
  const std::size_t end = bytes->size() - mac_bytes;
  const std::string_view signed_part = std::string_view(*bytes).substr(0, end);
  const auto* presented = reinterpret_cast<const unsigned char*>(bytes->data() + end);
  // Every secret is tried, whatever the outcome, so the time says nothing about which matched.
  bool match = false;
  for (const auto& key : keys_.keys()) {
    const auto mac = hmac(key, signed_part);
    match |= CRYPTO_memcmp(mac.data(), presented, mac_bytes) == 0;
  }
  if (!match) {
    v.error = "token signature does not match (forged, altered, or signed with a retired secret)";
    return v;
  }
  // Signed by us: the layout should hold; checked anyway (a secret shared by mistake).
  subscription s;
  std::size_t pos = 1;
  if (!get_field(*bytes, pos, end, s.tenant) || !get_field(*bytes, pos, end, s.address) ||
      !get_field(*bytes, pos, end, s.list) || pos != end || s.tenant.empty() || s.address.empty()) {
    v.error = "malformed token fields";
    return v;
  }
  v.sub = std::move(s);
  return v;
}

} // namespace iaposte::unsubscribe
