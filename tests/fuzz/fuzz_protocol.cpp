// libFuzzer target for what the client writes (lib/smtp/protocol.hpp): the DATA payload made
// from arbitrary message bytes, and commands made from arbitrary addresses and names.
//
// Checked beyond "no crash, no sanitizer report":
//  - the payload has only CRLF line ends (no bare CR, no bare LF), so "<LF>.<LF>" and
//    "<CR>.<CR>" can never reach a server (SMTP smuggling);
//  - its only "." line is the last one; undoing the dot-stuffing gives the message with every
//    line end made CRLF and a final CRLF;
//  - append_data_payload() after other bytes appends exactly data_payload();
//  - an address safe_path() accepts, or a name safe_domain() accepts, makes a command of one
//    line; base64_encode() decodes back to its input.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtp/protocol.hpp"

namespace protocol = iaposte::smtp::protocol;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_protocol: property broken: %s\n", what);
  std::abort();
}
#define EXPECT(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) fail(#cond);                                                                      \
  } while (0)

// The message with CRLF, bare CR and bare LF each made CRLF, and a CRLF after the last line.
std::string normalized(std::string_view m) {
  std::string out;
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\r' || m[i] == '\n') {
      out += "\r\n";
      if (m[i] == '\r' && i + 1 < m.size() && m[i + 1] == '\n') ++i;
    } else {
      out += m[i];
    }
  }
  if (!out.empty() && (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0))
    out += "\r\n";
  return out;
}

void check_payload(std::string_view m) {
  const std::string p = protocol::data_payload(m);
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\r') EXPECT(i + 1 < p.size() && p[i + 1] == '\n');
    if (p[i] == '\n') EXPECT(i > 0 && p[i - 1] == '\r');
  }
  EXPECT(p.size() >= 3 && p.compare(p.size() - 3, 3, ".\r\n") == 0);
  EXPECT(p.size() == 3 || p.compare(p.size() - 5, 5, "\r\n.\r\n") == 0);

  // Line by line: undo the stuffing; no "." line before the terminator.
  std::string unstuffed;
  std::size_t pos = 0;
  const std::size_t body_end = p.size() - 3;
  while (pos < body_end) {
    std::size_t eol = p.find("\r\n", pos);
    EXPECT(eol != std::string::npos && eol < body_end);
    std::string_view line(p.data() + pos, eol - pos);
    EXPECT(line != ".");
    if (!line.empty() && line[0] == '.') {
      EXPECT(line.size() >= 2 && line[1] == '.');
      line.remove_prefix(1);
    }
    unstuffed.append(line).append("\r\n");
    pos = eol + 2;
  }
  EXPECT(unstuffed == normalized(m));

  std::string appended = "prefix\r\n";
  protocol::append_data_payload(appended, m);
  EXPECT(appended == "prefix\r\n" + p);
}

void check_command(const std::string& c) {
  EXPECT(c.size() >= 2 && c.compare(c.size() - 2, 2, "\r\n") == 0);
  for (std::size_t i = 0; i + 2 < c.size(); ++i)
    EXPECT(c[i] != '\r' && c[i] != '\n' && c[i] != '\0');
}

int b64(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

void check_base64(std::string_view in) {
  std::string e = protocol::base64_encode(in);
  EXPECT(e.size() == (in.size() + 2) / 3 * 4);
  std::string d;
  for (std::size_t i = 0; i < e.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      if (e[i + k] == '=') {
        EXPECT(i + 4 == e.size() && k >= 2);
        v[k] = 0;
        ++pad;
      } else {
        EXPECT(pad == 0);
        v[k] = b64(e[i + k]);
        EXPECT(v[k] >= 0);
      }
    }
    unsigned n = unsigned(v[0]) << 18 | unsigned(v[1]) << 12 | unsigned(v[2]) << 6 | unsigned(v[3]);
    d += static_cast<char>(n >> 16 & 255);
    if (pad < 2) d += static_cast<char>(n >> 8 & 255);
    if (pad < 1) d += static_cast<char>(n & 255);
  }
  EXPECT(d == in);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  check_payload(data);
  check_base64(data);
  if (protocol::safe_path(data)) {
    check_command(protocol::mail_from(data));
    check_command(protocol::rcpt_to(data));
  }
  if (protocol::safe_domain(data)) {
    check_command(protocol::ehlo(data));
    check_command(protocol::helo(data));
  }
  check_command(protocol::auth_login_answer(data));
  return 0;
}
