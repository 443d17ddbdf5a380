// The signer: which header fields are signed, the body hash, the DKIM-Signature field and its
// signature (RFC 6376 §3.5, §3.7, §5; RFC 8463 §3 for Ed25519).
#include <array>
#include <cstdint>
#include <vector>

#include <openssl/rsa.h>

#include "dkim/canon.hpp"
#include "dkim/key.hpp"

namespace iaposte::dkim {

namespace {

// RFC 6376 §5.4.1's recommendations that a composed message can carry, plus RFC 8058 §4's
// List-Unsubscribe pair (a one-click unsubscription is honoured only when both are signed).
constexpr std::array<std::string_view, 11> signed_fields = {"From",
                                                            "To",
                                                            "Cc",
                                                            "Subject",
                                                            "Date",
                                                            "Message-ID",
                                                            "MIME-Version",
                                                            "Content-Type",
                                                            "Reply-To",
                                                            "List-Unsubscribe",
                                                            "List-Unsubscribe-Post"};
constexpr std::size_t from_index = 0;

constexpr std::size_t max_line = 78; // RFC 5322 §2.1.1's SHOULD; every piece below fits in 998

// Writes a header field folded at the places RFC 6376's grammar allows FWS: between tags,
// around the colons of h=, inside base64 values (§3.2, §3.5).
class folder {
public:
  explicit folder(std::string& out) : out_(out), col_(out.size()) {}

  // A tag (or its first piece) after "; ": on this line when it fits, else on the next.
  void tag(std::string_view text) {
    if (col_ + 1 + text.size() > max_line && col_ > 1) {
      fold();
    } else {
      out_ += ' ';
      ++col_;
    }
    append(text);
  }
  // The next piece of a tag value, where FWS may stand but need not.
  void piece(std::string_view text) {
    if (col_ + text.size() > max_line && col_ > 1) fold();
    append(text);
  }
  // A base64 value, cut to fill each line.
  void base64(std::string_view b64) {
    while (!b64.empty()) {
      if (col_ >= max_line) fold();
      const std::size_t n = std::min(max_line - col_, b64.size());
      append(b64.substr(0, n));
      b64.remove_prefix(n);
    }
  }

private:
  void fold() {
    out_ += "\r\n ";
    col_ = 1;
  }
  void append(std::string_view s) {
    out_ += s;
    col_ += s.size();
  }
  std::string& out_;
  std::size_t col_;
};

struct digest {
  std::array<unsigned char, 32> bytes{};
};

// Fetched once and kept: EVP_sha256() is an implicit fetch, a name lookup under a lock at every
// use, on every message.
const EVP_MD* sha256_md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) throw error("DKIM: SHA-256 unavailable (" + detail::openssl_reason() + ")");
  return md;
}

digest sha256(std::string_view data) {
  digest d;
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), d.bytes.data(), &n, sha256_md(), nullptr) != 1)
    throw error("DKIM: SHA-256 failed (" + detail::openssl_reason() + ")");
  return d;
}

// RSASSA-PKCS1-v1_5 over the SHA-256 digest (RFC 6376 §3.3.1), or Ed25519 over the digest
// itself, i.e. PureEdDSA of the 32 octets (RFC 8463 §3).
std::string signature(const signing_key::impl& key, const digest& d) {
  std::vector<unsigned char> sig(static_cast<std::size_t>(EVP_PKEY_get_size(key.pkey.get())));
  std::size_t len = sig.size();
  bool ok = false;
  if (key.algo == algorithm::rsa_sha256) {
    const EVP_MD* md = sha256_md();
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key.pkey.get(), nullptr);
    ok = ctx != nullptr && EVP_PKEY_sign_init(ctx) == 1 &&
         EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
         EVP_PKEY_CTX_set_signature_md(ctx, md) == 1 &&
         EVP_PKEY_sign(ctx, sig.data(), &len, d.bytes.data(), d.bytes.size()) == 1;
    EVP_PKEY_CTX_free(ctx);
  } else {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ok = ctx != nullptr &&
         EVP_DigestSignInit_ex(ctx, nullptr, nullptr, nullptr, nullptr, key.pkey.get(), nullptr) ==
             1 &&
         EVP_DigestSign(ctx, sig.data(), &len, d.bytes.data(), d.bytes.size()) == 1;
    EVP_MD_CTX_free(ctx);
  }
  if (!ok)
    throw error("DKIM signing with d=" + key.domain + " s=" + key.selector + " failed (" +
                detail::openssl_reason() + ")");
  return detail::base64(sig.data(), len);
}

// What every signature of one message shares: h=, the canonical signed fields, bh=.
struct message_part {
  std::vector<std::string_view> h; // h= names, in order, with repeats
  std::string headers;             // the canonical fields h= selects, in h= order
  std::string body_hash;           // bh=
};

message_part prepare(std::string_view message) {
  const detail::parsed_message m = detail::parse_message(message);
  message_part out;
  // The instances of each signed name, in message order.
  std::array<std::vector<std::string_view>, signed_fields.size()> found;
  for (const auto& f : m.headers)
    for (std::size_t i = 0; i < signed_fields.size(); ++i)
      if (detail::same_name(f.name, signed_fields[i])) {
        found[i].push_back(f.raw);
        break;
      }
  for (std::size_t i = 0; i < signed_fields.size(); ++i) {
    // RFC 6376 §5.4.2: several instances are signed from the last one upwards; a name listed
    // once more than it occurs signs "no further instance" (§5.4, over-signing), so that an
    // added From breaks the signature.
    const std::size_t n = found[i].size() + (i == from_index ? 1 : 0);
    for (std::size_t k = 0; k < n; ++k) {
      out.h.push_back(signed_fields[i]);
      if (k < found[i].size())
        detail::relaxed_header(found[i][found[i].size() - 1 - k], out.headers);
    }
  }
  std::string body;
  body.reserve(m.body.size() + 2);
  detail::relaxed_body(m.body, body);
  const digest bh = sha256(body);
  out.body_hash = detail::base64(bh.bytes.data(), bh.bytes.size());
  return out;
}

// One DKIM-Signature field (without its final CRLF).
std::string signature_field(const signing_key::impl& key, const message_part& part,
                            std::int64_t t) {
  std::string f = "DKIM-Signature:";
  f.reserve(600);
  folder w(f);
  w.tag("v=1;");
  w.tag("a=" + std::string(to_string(key.algo)) + ";");
  w.tag("c=relaxed/relaxed;");
  w.tag("d=" + key.domain + ";");
  w.tag("s=" + key.selector + ";");
  w.tag("t=" + std::to_string(t) + ";");
  if (key.expire_after.count() > 0)
    w.tag("x=" + std::to_string(t + key.expire_after.count()) + ";");
  for (std::size_t i = 0; i < part.h.size(); ++i) {
    const std::string item =
        (i == 0 ? "h=" : "") + std::string(part.h[i]) + (i + 1 < part.h.size() ? ":" : ";");
    if (i == 0)
      w.tag(item);
    else
      w.piece(item);
  }
  w.tag("bh=" + part.body_hash + ";");
  w.tag("b=");
  // RFC 6376 §3.7: the field as it will be sent, b= empty, canonicalised, without its CRLF.
  std::string data = part.headers;
  detail::relaxed_header(f, data);
  data.resize(data.size() - 2);
  w.base64(signature(key, sha256(data)));
  return f;
}

} // namespace

signer::signer(std::vector<signing_key> keys) : keys_(std::move(keys)) {}

std::string signer::sign(std::string_view message,
                         std::chrono::system_clock::time_point now) const {
  if (keys_.empty()) return std::string(message);
  const auto t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (t < 0) throw error("DKIM: signing time before 1970");
  const message_part part = prepare(message);
  std::string out;
  out.reserve(message.size() + keys_.size() * 700);
  for (const auto& k : keys_) {
    out += signature_field(*k.impl_, part, t);
    out += "\r\n";
  }
  out += message;
  return out;
}

} // namespace iaposte::dkim
