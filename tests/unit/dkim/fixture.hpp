// What the lib/dkim tests share: the test keys, the dkimpy verifier, the goldens, tag parsing.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "dkim/dkim.hpp"
#include "dkimpy.hpp"

namespace iaposte::dkim::test {

inline const std::filesystem::path data_dir = IAPOSTE_TEST_DATA;

// 2025-11-25T17:09:24Z: in the past, as dkimpy refuses a t= in the future.
inline const auto signed_at =
    std::chrono::system_clock::time_point{} + std::chrono::seconds(1764090564);

inline dkimpy& verifier() {
  static dkimpy v(data_dir / ".." / "peers" / "dkimpy_verify.py");
  return v;
}

// tests/data/dkim/<file>, copied to a 0600 file (git keeps no modes) and loaded.
inline signing_key test_key(const std::string& file, algorithm a, const std::string& domain,
                            const std::string& selector) {
  static temp_dir dir;
  const auto copy = dir / (selector + "-" + file);
  write_file(copy, read_file(data_dir / "dkim" / file));
  return signing_key::load({domain, selector, a, copy.string()});
}

inline signing_key rsa_key(const std::string& domain = "acme.example",
                           const std::string& selector = "rsa2026") {
  return test_key("rsa-2048.pem", algorithm::rsa_sha256, domain, selector);
}
inline signing_key ed_key(const std::string& domain = "acme.example",
                          const std::string& selector = "ed2026") {
  return test_key("ed25519.pem", algorithm::ed25519_sha256, domain, selector);
}

// The DNS as dkimpy sees it: each key's record.
inline std::map<std::string, std::string> records(const std::vector<signing_key>& keys) {
  std::map<std::string, std::string> r;
  for (const auto& k : keys) {
    auto rec = k.public_record();
    r[rec.name] = rec.value;
  }
  return r;
}

inline std::vector<verdict> verify(const std::string& message, const std::vector<signing_key>& keys,
                                   bool literal_h = false) {
  return verifier().verify(message, records(keys), literal_h);
}

inline std::string golden(const std::string& name) {
  return read_file(data_dir / "mime" / (name + ".eml"));
}

// The unfolded value of the n-th (from the top) field called `name`, or "" when absent.
inline std::string field(const std::string& msg, const std::string& name, std::size_t n = 0) {
  std::size_t pos = 0;
  const std::size_t end = msg.find("\r\n\r\n");
  const std::string head = end == std::string::npos ? msg : msg.substr(0, end + 2);
  while (pos < head.size()) {
    const std::size_t eol = head.find("\r\n", pos);
    if (head.compare(pos, name.size() + 1, name + ":") == 0 && n-- == 0) {
      std::string v = head.substr(pos + name.size() + 1, eol - pos - name.size() - 1);
      for (std::size_t e = eol;
           e + 2 < head.size() && (head[e + 2] == ' ' || head[e + 2] == '\t');) {
        const std::size_t next = head.find("\r\n", e + 2);
        v += head.substr(e + 2, next - e - 2);
        e = next;
      }
      return v;
    }
    pos = eol + 2;
  }
  return "";
}

// "k=v; k=v" → {k: v} with the whitespace inside values removed (RFC 6376 §3.2).
inline std::map<std::string, std::string> tags(const std::string& value) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos < value.size()) {
    std::size_t semi = value.find(';', pos);
    if (semi == std::string::npos) semi = value.size();
    const std::string spec = value.substr(pos, semi - pos);
    const std::size_t eq = spec.find('=');
    std::string k, v;
    for (std::size_t i = 0; i < spec.size(); ++i)
      if (i != eq && spec[i] != ' ' && spec[i] != '\t') (i < eq ? k : v) += spec[i];
    if (!k.empty()) out[k] = v;
    pos = semi + 1;
  }
  return out;
}

} // namespace iaposte::dkim::test
