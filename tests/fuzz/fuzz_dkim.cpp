// libFuzzer target for lib/dkim: arbitrary bytes, and a well-formed message made from them,
// through the message splitter, the relaxed canonicalisation and the signer.
//
// Checked beyond "no crash, no sanitizer report":
//  - sign() on arbitrary bytes either signs or throws dkim::error, nothing else; what it
//    returns is the input with DKIM-Signature fields prepended, and it parses again;
//  - a well-formed message (CRLF lines, header fields, a body) is always signed; the result
//    parses as headers + body with one more field per key, every added line under 998 octets;
//  - relaxed canonicalisation is idempotent (canon(canon(x)) == canon(x)) for header fields
//    and for any body, and agrees with a plain re-statement of RFC 6376 §3.4.2 / §3.4.4;
//  - relaxed canonicalisation ignores whitespace runs: the same message with every WSP run in
//    header values and body lines lengthened (header folds included), WSP added at line ends
//    and empty lines added at the end of the body gets byte-identical DKIM-Signature fields.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dkim/canon.hpp"
#include "dkim/dkim.hpp"

namespace dkim = iaposte::dkim;
namespace detail = iaposte::dkim::detail;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_dkim: property broken: %s\n", what);
  std::abort();
}
#define EXPECT(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) fail(#cond);                                                                      \
  } while (0)

const auto when = std::chrono::system_clock::time_point{} + std::chrono::seconds(1764090564);

struct keys {
  dkim::signer ed, rsa;
};

const keys& signers() {
  static const keys k = [] {
    auto load = [](dkim::algorithm a, const char* sel) {
      const auto g = dkim::keygen(a, sel, "fuzz.example");
      return dkim::signing_key::from_pem({"fuzz.example", sel, a, ""}, g.private_key_pem);
    };
    return keys{dkim::signer({load(dkim::algorithm::ed25519_sha256, "ed")}),
                dkim::signer({load(dkim::algorithm::ed25519_sha256, "ed2"),
                              load(dkim::algorithm::rsa_sha256, "rsa")})};
  }();
  return k;
}

bool wsp(char c) {
  return c == ' ' || c == '\t';
}

bool valid_name(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n)
    if (c < 33 || c > 126 || c == ':') return false;
  return true;
}

// The bytes as a message: every CR, LF or CRLF a CRLF; header lines up to the first empty
// line, each a field ("X: " put before a line that is not one) or a continuation; the rest
// is the body.
std::string well_formed(std::string_view in) {
  std::string lines;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\r' || in[i] == '\n') {
      lines += "\r\n";
      if (in[i] == '\r' && i + 1 < in.size() && in[i + 1] == '\n') ++i;
    } else {
      lines += in[i];
    }
  }
  std::string out;
  std::size_t pos = 0;
  bool first = true;
  while (pos < lines.size()) {
    std::size_t eol = lines.find("\r\n", pos);
    if (eol == std::string::npos) eol = lines.size();
    const std::string_view line(lines.data() + pos, eol - pos);
    if (line.empty()) return out + lines.substr(pos); // the empty line and the body
    const std::size_t colon = line.find(':');
    std::size_t name_end = colon == std::string_view::npos ? 0 : colon;
    while (name_end > 0 && wsp(line[name_end - 1]))
      --name_end;
    const bool field = colon != std::string_view::npos && valid_name(line.substr(0, name_end));
    const bool continuation = !first && wsp(line[0]);
    if (!field && !continuation) out += "X: ";
    out += line;
    out += "\r\n";
    first = false;
    pos = eol + 2;
  }
  return out;
}

// RFC 6376 §3.4.2 restated with plain string operations, for parsed fields.
std::string reference_header(std::string_view raw) {
  const std::size_t colon = raw.find(':');
  std::string name(raw.substr(0, colon));
  while (!name.empty() && wsp(name.back()))
    name.pop_back();
  for (char& c : name)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  std::string unfolded;
  for (char c : raw.substr(colon + 1))
    if (c != '\r' && c != '\n') unfolded += c;
  std::string value;
  for (char c : unfolded) {
    if (wsp(c)) {
      if (value.empty() || value.back() != ' ') value += ' ';
    } else {
      value += c;
    }
  }
  while (!value.empty() && value.back() == ' ')
    value.pop_back();
  if (!value.empty() && value.front() == ' ') value.erase(0, 1);
  return name + ":" + value + "\r\n";
}

// RFC 6376 §3.4.4 restated: complete the last line, canonicalise each line, drop the empty
// ones at the end.
std::string reference_body(std::string body) {
  if (!body.empty() && (body.size() < 2 || body.compare(body.size() - 2, 2, "\r\n") != 0))
    body += "\r\n";
  std::string out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    const std::size_t eol = body.find("\r\n", pos);
    std::string line;
    for (char c : body.substr(pos, eol - pos)) {
      if (wsp(c)) {
        if (line.empty() || line.back() != ' ') line += ' ';
      } else {
        line += c;
      }
    }
    if (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\r\n";
    pos = eol + 2;
  }
  // Every line ends with CRLF: an empty last line is a CRLF alone, or one after another.
  while (out == "\r\n" || (out.size() >= 4 && out.compare(out.size() - 4, 4, "\r\n\r\n") == 0))
    out.resize(out.size() - 2);
  return out;
}

// The same message as relaxed canonicalisation sees it: each WSP run in a header value made
// longer (every other one with a fold), WSP added at the end of values and body lines, empty
// lines added at the end of the body.
std::string with_more_whitespace(const detail::parsed_message& m) {
  std::string out;
  int run = 0;
  for (const auto& f : m.headers) {
    const std::size_t colon = f.raw.find(':');
    out += f.raw.substr(0, colon + 1);
    for (std::size_t i = colon + 1; i < f.raw.size(); ++i) {
      const char c = f.raw[i];
      out += c;
      if (wsp(c) && (i + 1 == f.raw.size() || !wsp(f.raw[i + 1])))
        out += (++run % 2 == 0) ? "\r\n\t " : "\t";
    }
    out += " \t\r\n";
  }
  out += "\r\n";
  std::size_t pos = 0;
  const std::string_view body = m.body;
  while (pos < body.size()) {
    std::size_t eol = body.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = body.size();
    for (std::size_t i = pos; i < eol; ++i) {
      out += body[i];
      if (wsp(body[i])) out += ' ';
    }
    out += "\t \r\n";
    pos = eol + 2;
  }
  return out + "\r\n \r\n";
}

// The result is `message` with DKIM-Signature fields prepended, and it parses again.
void check_signed(const std::string& s, std::string_view message, std::size_t keys,
                  std::size_t fields_before) {
  EXPECT(s.size() > message.size());
  EXPECT(s.compare(s.size() - message.size(), message.size(), message) == 0);
  const auto m = detail::parse_message(s);
  EXPECT(m.headers.size() == fields_before + keys);
  for (std::size_t i = 0; i < keys; ++i)
    EXPECT(m.headers[i].name == "DKIM-Signature");
  const std::string_view added(s.data(), s.size() - message.size());
  std::size_t pos = 0;
  while (pos < added.size()) {
    const std::size_t eol = added.find("\r\n", pos);
    EXPECT(eol != std::string_view::npos);
    EXPECT(eol - pos <= 998);
    pos = eol + 2;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const keys& k = signers();

  // Arbitrary bytes: signed, or refused with dkim::error.
  try {
    const std::string s = k.ed.sign(in, when);
    check_signed(s, in, 1, detail::parse_message(in).headers.size());
  } catch (const dkim::error&) {
  }
  const std::string body_canon = detail::relaxed_body(in);
  EXPECT(detail::relaxed_body(body_canon) == body_canon);

  // A well-formed message: always signed.
  const std::string msg = well_formed(in);
  const auto m = detail::parse_message(msg);
  // RSA costs a millisecond: one input in 64.
  const dkim::signer& signer = (size % 64 == 0) ? k.rsa : k.ed;
  const std::size_t nkeys = signer.keys().size();
  const std::string s = signer.sign(msg, when);
  check_signed(s, msg, nkeys, m.headers.size());

  for (const auto& f : m.headers) {
    const std::string c = detail::relaxed_header(f.raw);
    EXPECT(c == reference_header(f.raw));
    EXPECT(detail::relaxed_header(std::string_view(c).substr(0, c.size() - 2)) == c);
  }
  const std::string b = detail::relaxed_body(m.body);
  EXPECT(b == reference_body(std::string(m.body)));
  EXPECT(detail::relaxed_body(b) == b);

  // Whitespace runs do not matter: the same signature fields, byte for byte.
  const std::string spaced = with_more_whitespace(m);
  const std::string s2 = signer.sign(spaced, when);
  EXPECT(s2.size() - spaced.size() == s.size() - msg.size());
  EXPECT(s2.compare(0, s2.size() - spaced.size(), s, 0, s.size() - msg.size()) == 0);
  return 0;
}
