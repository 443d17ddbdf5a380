// Bearer tokens: loading the secrets, and matching a presented one in constant time.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/server.hpp"

namespace iaposte::admin {

// "read" / "admin"; nullopt otherwise (for the lead's config mapping).
std::optional<role> parse_role(std::string_view s);
std::string_view to_string(role r);

struct identity {
  std::string name;
  admin::role role = role::none;
};

// The configured tokens, kept only as SHA-256 digests.
class token_set {
public:
  // Reads each token's file when its secret is not given inline. Throws std::runtime_error
  // naming the token (and file) when a secret is missing, unreadable, empty or shared, or a
  // role is `none`; the message never contains a secret.
  explicit token_set(const std::vector<token>& tokens);

  // The token whose secret equals `presented`, or nullopt. Every configured token is compared,
  // digest against digest with CRYPTO_memcmp, so neither the time nor the outcome's timing
  // depend on where or whether the secret differs.
  std::optional<identity> match(std::string_view presented) const;

  // From an Authorization header value: the token after "Bearer " (scheme case-insensitive).
  static std::optional<std::string_view> bearer(std::string_view authorization);

  bool empty() const { return entries_.empty(); }

private:
  struct entry {
    identity who;
    std::array<unsigned char, 32> digest;
  };
  std::vector<entry> entries_;
};

} // namespace iaposte::admin
