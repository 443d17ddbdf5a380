// SHA-256 keys (OpenSSL EVP) and the LRU.
#include "ai/cache.hpp"

#include <openssl/evp.h>

namespace iaposte::ai::detail {

std::string sha256_hex(std::string_view canonical) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(canonical.data(), canonical.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::optional<std::string> lru_cache::get(const std::string& key, clock::time_point now) {
  std::lock_guard lk(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  if (it->second->expires <= now) {
    bytes_ -= it->second->key.size() + it->second->value.size();
    order_.erase(it->second);
    index_.erase(it);
    return std::nullopt;
  }
  order_.splice(order_.begin(), order_, it->second);
  return it->second->value;
}

void lru_cache::put(const std::string& key, std::string value, clock::time_point expires) {
  if (capacity_ == 0 || key.size() + value.size() > max_bytes_) return;
  std::lock_guard lk(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->value.size();
    bytes_ += value.size();
    it->second->value = std::move(value);
    it->second->expires = expires;
    order_.splice(order_.begin(), order_, it->second);
  } else {
    bytes_ += key.size() + value.size();
    order_.push_front({key, std::move(value), expires});
    index_[key] = order_.begin();
  }
  while (order_.size() > capacity_ || bytes_ > max_bytes_) {
    bytes_ -= order_.back().key.size() + order_.back().value.size();
    index_.erase(order_.back().key);
    order_.pop_back();
  }
}

std::size_t lru_cache::bytes() const {
  std::lock_guard lk(mu_);
  return bytes_;
}

std::size_t lru_cache::size() const {
  std::lock_guard lk(mu_);
  return order_.size();
}

} // namespace iaposte::ai::detail
