// One-click unsubscribe (RFC 8058, RFC 2369): signed tokens naming (tenant, address, list), the
// secrets that sign them, and the List-Unsubscribe header values. No Beast, no PostgreSQL here.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iaposte::unsubscribe {

// What the daemon's configuration gives ([unsubscribe] in the TOML, for the lead to map).
struct config {
  // Files holding the HMAC secrets, at least 32 bytes each (a trailing newline is ignored).
  // The first signs new tokens; every one verifies, so that a secret can be rotated without
  // breaking the links already sent. A relative name is read from $CREDENTIALS_DIRECTORY.
  std::vector<std::string> secret_files;
  // The public https URL the token is appended to, e.g. "https://mail.example.org/unsubscribe/"
  // (a missing final '/' is added). The reverse proxy maps its path onto path_prefix.
  std::string base_url;
  // The address of the mailto alternative, e.g. "unsubscribe@example.org" (no "mailto:").
  std::string mailto;
  // Where the admin server serves the routes: "<path_prefix>/<token>".
  std::string path_prefix = "/unsubscribe";
  // How long a one-click POST waits for the suppression to be stored before it answers 503 with
  // Retry-After (the write stays queued; the sender's retry is idempotent).
  std::chrono::milliseconds store_timeout{2000};
  std::chrono::seconds retry_after{60};
  // Tests only: accept an http:// base_url. RFC 8058 §3.1 requires HTTPS.
  bool allow_http = false;
};

// Throws std::invalid_argument naming the key ("unsubscribe.base_url: ...") for the first
// problem: no secret file, a base_url that is not an absolute https URL without query or
// fragment, a mailto that is not an addr-spec, a path_prefix that is not "/name[/name...]"
// without a final '/', a zero timeout.
void validate(const config& cfg);

// The base URL as the tokens are appended to it (with its final '/').
std::string normal_base_url(std::string_view base_url);

// --- secrets -------------------------------------------------------------------------------

using env_lookup = std::function<const char*(const char*)>;

// The HMAC keys, wiped from memory when destroyed. Never logged, never in an error message.
class secret_set {
public:
  // Throws std::invalid_argument when there is none, or one is shorter than min_bytes or
  // repeats another (its position is named, not its value).
  explicit secret_set(std::vector<std::string> secrets);
  ~secret_set();
  secret_set(const secret_set& other);
  secret_set& operator=(const secret_set& other);
  secret_set(secret_set&&) noexcept = default;
  secret_set& operator=(secret_set&& other) noexcept;

  static constexpr std::size_t min_bytes = 32;

  const std::vector<std::string>& keys() const { return keys_; }

private:
  void wipe() noexcept;
  std::vector<std::string> keys_;
};

// Reads each file (a relative name resolved against $CREDENTIALS_DIRECTORY as `env` gives it,
// like config's *_file keys; trailing CR/LF stripped). Throws std::invalid_argument naming
// "unsubscribe.secret_files[i]" and the path: unreadable, too short, a repeat.
secret_set load_secrets(const std::vector<std::string>& files, const env_lookup& env = nullptr);

// --- tokens --------------------------------------------------------------------------------

// Who leaves which list of which tenant. `list` "" = every list of the tenant.
struct subscription {
  std::string tenant, address, list;
  bool operator==(const subscription&) const = default;
};

// A token checked: `sub` when valid, else `error` says why (never quoting a secret).
struct verification {
  std::optional<subscription> sub;
  std::string error;
  explicit operator bool() const { return sub.has_value(); }
};

// Token layout, base64url without padding (RFC 4648 §5) over:
//   0x01 | len(tenant) | tenant | len(address) | address | len(list) | list | mac[16]
// lengths one byte each; mac = HMAC-SHA256(secret, "iaposte-unsubscribe" 0x00 | the bytes
// before it), truncated to 16 bytes. docs/UNSUBSCRIBE.md.
inline constexpr std::size_t mac_bytes = 16;
inline constexpr unsigned char token_version = 1;

// Makes tokens with the first secret.
class signer {
public:
  explicit signer(const secret_set& secrets);
  // Throws std::invalid_argument when a field is longer than 255 bytes, the tenant or the
  // address is empty, or a field holds a control character (CR, LF, NUL, ...).
  std::string encode(const subscription& s) const;

private:
  secret_set key_;
};

// Checks tokens against every secret, in constant time per secret (CRYPTO_memcmp).
class verifier {
public:
  explicit verifier(const secret_set& secrets);
  verification verify(std::string_view token) const;

private:
  secret_set keys_;
};

// --- header values (RFC 2369 §3.2, RFC 8058 §3.1) -------------------------------------------

struct header_values {
  // <https://mail.example.org/unsubscribe/TOKEN>,
  // <mailto:unsubscribe@example.org?subject=unsubscribe%20TOKEN>
  std::string list_unsubscribe;
  // List-Unsubscribe=One-Click (RFC 8058 §3.1; the DKIM signature must cover it, §4)
  std::string list_unsubscribe_post;
  std::string url; // the https URL alone
};

// The values for one message. A message has one List-Unsubscribe whatever its number of
// recipients: the content stage passes the first `to` recipient (docs/UNSUBSCRIBE.md says
// why). `cfg` must have passed validate(). Throws std::invalid_argument as signer::encode.
header_values headers_for(const config& cfg, const signer& s, const subscription& sub);

// "helene@exemple.fr" -> "h•••@exemple.fr": what the confirmation page shows.
std::string mask_address(std::string_view address);

} // namespace iaposte::unsubscribe
