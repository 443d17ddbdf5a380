// Encodes SMTP commands and the dot-stuffed DATA payload; no I/O here.
#include "smtp/protocol.hpp"

#include <algorithm>

namespace iaposte::smtp::protocol {

namespace {

bool is_control(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

std::string command(std::string_view verb, std::string_view arg, std::string_view close = {}) {
  std::string out;
  out.reserve(verb.size() + arg.size() + close.size() + 2);
  out.append(verb).append(arg).append(close).append("\r\n");
  return out;
}

} // namespace

bool safe_path(std::string_view address) {
  // RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the brackets.
  if (address.size() > 254) return false;
  for (char c : address)
    if (is_control(c) || c == '<' || c == '>') return false;
  return true;
}

bool safe_domain(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '[' || c == ']' || c == ':' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string ehlo(std::string_view name) {
  return command("EHLO ", name);
}
std::string helo(std::string_view name) {
  return command("HELO ", name);
}
std::string mail_from(std::string_view address) {
  return command("MAIL FROM:<", address, ">");
}
std::string rcpt_to(std::string_view address) {
  return command("RCPT TO:<", address, ">");
}

std::string base64_encode(std::string_view in) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 3 <= in.size(); i += 3) {
    unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
    out += alphabet[v & 63];
  }
  if (std::size_t left = in.size() - i; left > 0) {
    unsigned v = byte(i) << 16 | (left == 2 ? byte(i + 1) << 8 : 0u);
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += left == 2 ? alphabet[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

std::string auth_plain(std::string_view user, std::string_view password) {
  std::string token;
  token.reserve(user.size() + password.size() + 2);
  token.append(1, '\0').append(user).append(1, '\0').append(password);
  std::string out = command("AUTH PLAIN ", base64_encode(token));
  // The token held the password in clear; do not leave it in freed heap memory.
  std::fill(token.begin(), token.end(), '\0');
  return out;
}

std::string auth_login_answer(std::string_view value) {
  return command({}, base64_encode(value));
}

void append_data_payload(std::string& out, std::string_view m) {
  // Dot-stuffing adds at most one byte per line; a generous guess avoids a second allocation
  // for typical mail (lines of 70 to 80 bytes) without scanning twice.
  out.reserve(out.size() + m.size() + m.size() / 32 + 8);
  const char* p = m.data();
  const char* end = p + m.size();
  bool line_start = true;
  while (p < end) {
    if (line_start && *p == '.') out += '.';
    // Copy the run up to the next CR or LF in one append.
    const char* q = p;
    while (q < end && *q != '\r' && *q != '\n')
      ++q;
    out.append(p, q);
    if (q == end) {
      line_start = false;
      p = q;
      break;
    }
    // CRLF, bare CR and bare LF all end one line.
    out += "\r\n";
    p = (*q == '\r' && q + 1 < end && q[1] == '\n') ? q + 2 : q + 1;
    line_start = true;
  }
  if (!line_start) out += "\r\n";
  out += ".\r\n";
}

std::string data_payload(std::string_view message) {
  std::string out;
  append_data_payload(out, message);
  return out;
}

} // namespace iaposte::smtp::protocol
