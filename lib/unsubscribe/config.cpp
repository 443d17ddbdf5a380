// The unsubscribe configuration: its checks, and the secrets read from their files.
#include "unsubscribe/unsubscribe.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <openssl/crypto.h>

#include "core/request.hpp"
#include "unsubscribe/detail.hpp"

namespace iaposte::unsubscribe {

namespace {

bool ascii_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool unreserved(char c) {
  return ascii_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The value as a message may show it: printable ASCII only, cut at 80.
std::string shown(std::string_view v) {
  std::string out = "\"";
  for (std::size_t i = 0; i < v.size() && i < 80; ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  }
  return out + (v.size() > 80 ? "...\"" : "\"");
}

// "" when `url` can carry tokens in a header: RFC 3986 absolute URL, scheme http(s), a host, a
// path of pchar (RFC 3986 §3.3) without ',' (RFC 2369 §2 separates URLs with it), no userinfo,
// query or fragment.
std::string url_problem(std::string_view url, bool allow_http) {
  const std::string scheme_end = "://";
  const auto colon = url.find(scheme_end);
  if (colon == std::string_view::npos) return "expected an absolute https:// URL";
  const std::string scheme = lower(url.substr(0, colon));
  if (scheme != "https" && !(allow_http && scheme == "http"))
    return allow_http ? "expected an http:// or https:// URL"
                      : "expected an https:// URL (RFC 8058 §3.1 requires HTTPS)";
  const std::string_view rest = url.substr(colon + scheme_end.size());
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.empty()) return "no host";
  for (char c : authority)
    if (!(ascii_alnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
      return c == '@' ? "no user information allowed in the URL"
                      : "unexpected character in the host";
  if (authority.front() == ':') return "no host";
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '?' || c == '#') return "no query or fragment allowed: the token ends the path";
    if (c == '%') {
      auto hex = [](char h) {
        return (h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F');
      };
      if (i + 2 >= path.size() || !hex(path[i + 1]) || !hex(path[i + 2]))
        return "a '%' not followed by two hex digits";
      continue;
    }
    const bool ok = unreserved(c) || c == '/' || c == ':' || c == '@' || c == '!' || c == '$' ||
                    c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' ||
                    c == ';' || c == '=';
    if (!ok) return "unexpected character in the path (space, ',', '<', '>', non-ASCII, ...)";
  }
  if (url.size() > 512) return "longer than 512 characters";
  return {};
}

std::string prefix_problem(std::string_view p) {
  if (p.empty() || p.front() != '/') return "must start with '/'";
  if (p.size() == 1 || p.back() == '/') return "must name a path without a final '/'";
  std::size_t start = 1;
  while (start <= p.size()) {
    const auto end = std::min(p.find('/', start), p.size());
    const std::string_view seg = p.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return "an empty, '.' or '..' segment";
    for (char c : seg)
      if (!unreserved(c)) return "segments of [A-Za-z0-9._~-] only";
    start = end + 1;
  }
  return {};
}

} // namespace

void validate(const config& cfg) {
  auto fail = [](const std::string& key, const std::string& why) {
    throw std::invalid_argument("unsubscribe." + key + ": " + why);
  };
  if (cfg.secret_files.empty()) fail("secret_files", "at least one file is needed");
  for (std::size_t i = 0; i < cfg.secret_files.size(); ++i)
    if (cfg.secret_files[i].empty())
      fail("secret_files[" + std::to_string(i) + "]", "empty file name");
  if (cfg.base_url.empty())
    fail("base_url", "missing (e.g. https://mail.example.org/unsubscribe/)");
  if (auto why = url_problem(cfg.base_url, cfg.allow_http); !why.empty())
    fail("base_url", shown(cfg.base_url) + ": " + why);
  if (cfg.mailto.empty()) fail("mailto", "missing (e.g. unsubscribe@example.org)");
  if (lower(cfg.mailto.substr(0, 7)) == "mailto:")
    fail("mailto", "give the address alone, without \"mailto:\"");
  if (!core::valid_email(cfg.mailto))
    fail("mailto", shown(cfg.mailto) + " is not an email address (local@domain, ASCII)");
  detail::validate_route_keys(cfg);
}

void detail::validate_route_keys(const config& cfg) {
  auto fail = [](const std::string& key, const std::string& why) {
    throw std::invalid_argument("unsubscribe." + key + ": " + why);
  };
  if (auto why = prefix_problem(cfg.path_prefix); !why.empty())
    fail("path_prefix", shown(cfg.path_prefix) + ": " + why);
  if (cfg.store_timeout.count() <= 0) fail("store_timeout", "must be positive");
  if (cfg.retry_after.count() <= 0) fail("retry_after", "must be positive");
}

std::string normal_base_url(std::string_view base_url) {
  std::string out(base_url);
  if (out.empty() || out.back() != '/') out += '/';
  return out;
}

secret_set load_secrets(const std::vector<std::string>& files, const env_lookup& env) {
  const env_lookup getenv = env ? env : [](const char* name) { return std::getenv(name); };
  std::vector<std::string> secrets;
  // Wiped if a later file fails: the secret_set is not built yet to do it.
  struct guard {
    std::vector<std::string>& v;
    ~guard() {
      for (auto& s : v)
        if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
    }
  } wipe{secrets};
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string key = "unsubscribe.secret_files[" + std::to_string(i) + "]";
    std::string path = files[i];
    if (path.empty()) throw std::invalid_argument(key + ": empty file name");
    if (path.front() != '/')
      if (const char* dir = getenv("CREDENTIALS_DIRECTORY")) path = std::string(dir) + "/" + path;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::invalid_argument(key + ": cannot read " + path);
    // Held in `secrets` at once, so that the guard wipes it whatever fails next.
    secrets.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string& s = secrets.back();
    if (in.bad()) throw std::invalid_argument(key + ": cannot read " + path);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
      s.pop_back();
    if (s.size() < secret_set::min_bytes)
      throw std::invalid_argument(key + ": " + path + " holds " + std::to_string(s.size()) +
                                  " bytes, at least " + std::to_string(secret_set::min_bytes) +
                                  " are needed (e.g. openssl rand -base64 48)");
    for (std::size_t j = 0; j + 1 < secrets.size(); ++j)
      if (secrets[j] == s)
        throw std::invalid_argument(key + ": " + path + " holds the same secret as " +
                                    "unsubscribe.secret_files[" + std::to_string(j) + "]");
  }
  if (secrets.empty()) throw std::invalid_argument("unsubscribe.secret_files: no file given");
  return secret_set(secrets); // a copy: `secrets` is wiped on the way out
}

} // namespace iaposte::unsubscribe
