// Bearer tokens: secrets read once from their files, hashed, compared in constant time.
#include "admin/auth.hpp"

#include <fstream>
#include <iterator>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace iaposte::admin {

std::optional<role> parse_role(std::string_view s) {
  if (s == "read") return role::read;
  if (s == "admin") return role::admin;
  return std::nullopt;
}

std::string_view to_string(role r) {
  switch (r) {
  case role::none:
    return "none";
  case role::read:
    return "read";
  case role::admin:
    return "admin";
  }
  return "none";
}

namespace {

std::array<unsigned char, 32> sha256(std::string_view s) {
  std::array<unsigned char, 32> md{};
  unsigned int len = 0;
  if (EVP_Digest(s.data(), s.size(), md.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != md.size())
    throw std::runtime_error("admin tokens: SHA-256 unavailable");
  return md;
}

std::string read_secret(const token& t) {
  if (!t.secret.empty()) return t.secret;
  if (t.file.empty()) throw std::runtime_error("admin token '" + t.name + "': no secret file");
  std::ifstream in(t.file, std::ios::binary);
  if (!in) throw std::runtime_error("admin token '" + t.name + "': cannot read " + t.file);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Files written by `echo` or an editor end with a newline that is no part of the secret.
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.pop_back();
  if (s.empty()) throw std::runtime_error("admin token '" + t.name + "': " + t.file + " is empty");
  return s;
}

} // namespace

token_set::token_set(const std::vector<token>& tokens) {
  for (const auto& t : tokens) {
    if (t.role == role::none)
      throw std::runtime_error("admin token '" + t.name + "': role must be read or admin");
    std::string secret = read_secret(t);
    entry e{{t.name, t.role}, sha256(secret)};
    OPENSSL_cleanse(secret.data(), secret.size());
    for (const auto& other : entries_)
      if (other.digest == e.digest)
        throw std::runtime_error("admin tokens '" + other.who.name + "' and '" + t.name +
                                 "' share a secret");
    entries_.push_back(std::move(e));
  }
}

std::optional<identity> token_set::match(std::string_view presented) const {
  const auto digest = sha256(presented);
  const entry* found = nullptr;
  for (const auto& e : entries_)
    if (CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0) found = &e;
  if (!found) return std::nullopt;
  return found->who;
}

std::optional<std::string_view> token_set::bearer(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (c != scheme[i]) return std::nullopt;
  }
  std::string_view t = authorization.substr(scheme.size());
  while (!t.empty() && t.front() == ' ')
    t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
    t.remove_suffix(1);
  if (t.empty()) return std::nullopt;
  return t;
}

} // namespace iaposte::admin
