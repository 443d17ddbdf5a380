// Encodes SMTP commands and the dot-stuffed DATA payload; no I/O here.
#include "smtp/protocol.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

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

void append_mail_from(std::string& out, std::string_view address, const mail_params& p) {
  out.append("MAIL FROM:<").append(address).append(">");
  if (p.size > 0) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, p.size);
    out.append(" SIZE=").append(digits, end);
  }
  if (p.body_8bitmime) out.append(" BODY=8BITMIME");
  if (p.smtputf8) out.append(" SMTPUTF8");
  out.append("\r\n");
}

void append_rcpt_to(std::string& out, std::string_view address) {
  out.append("RCPT TO:<").append(address).append(">\r\n");
}

bool internationalised(std::string_view address) {
  return has_8bit(address);
}

bool has_8bit(std::string_view s) {
  // Eight bytes at a time: this runs over every message body.
  const char* p = s.data();
  const char* end = p + s.size();
  constexpr std::uint64_t high = 0x8080808080808080ull;
  std::uint64_t acc = 0;
  for (; p + 32 <= end; p += 32) {
    std::uint64_t w[4];
    std::memcpy(w, p, sizeof w);
    acc |= w[0] | w[1] | w[2] | w[3];
    if (acc & high) return true;
  }
  for (; p < end; ++p)
    if (static_cast<unsigned char>(*p) >= 0x80) return true;
  return (acc & high) != 0;
}

std::string_view header_block(std::string_view message) {
  auto end = std::min(message.find("\r\n\r\n"), message.find("\n\n"));
  return message.substr(0, end);
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

std::string auth_xoauth2(std::string_view user, std::string_view token) {
  std::string raw;
  raw.reserve(user.size() + token.size() + 24);
  raw.append("user=").append(user).append(1, '\x01');
  raw.append("auth=Bearer ").append(token).append("\x01\x01");
  std::string out = command("AUTH XOAUTH2 ", base64_encode(raw));
  std::fill(raw.begin(), raw.end(), '\0');
  return out;
}

namespace {
constexpr std::string_view crlf = "\r\n";
constexpr std::string_view dot = ".";
constexpr std::string_view fold = "\r\n "; // breaks an over-long line (Postfix's way)
constexpr std::string_view terminator = ".\r\n";
constexpr std::string_view crlf_terminator = "\r\n.\r\n";
} // namespace

// Walks the message line by line. Runs of lines that need nothing stay one slice of the
// message; a piece is added only where a byte must be inserted (stuffing dot, CRLF for a bare
// CR or LF, CRLF SP for an over-long line).
void payload::build(std::string_view m) {
  pieces.clear();
  wire_size = 0;
  message_size = 0;
  lines_broken = 0;
  eight_bit = has_8bit(m);

  const char* p = m.data();
  const char* end = p + m.size();
  const char* run = p; // start of the pending slice of the message
  auto flush = [&](const char* upto) {
    if (upto > run) pieces.emplace_back(run, static_cast<std::size_t>(upto - run));
  };
  auto insert = [&](std::string_view lit) { pieces.push_back(lit); };
  std::size_t stuffed = 0, inserted = 0;

  while (p < end) {
    // One line: content [p, eol), then its terminator of `term` bytes (0 at the end).
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
    const char* limit = nl ? nl : end;
    const char* cr = static_cast<const char*>(std::memchr(p, '\r', limit - p));
    const char* eol;
    bool clean_end; // terminated by a proper CRLF
    if (cr && cr + 1 == nl) {
      eol = cr;
      clean_end = true;
    } else if (cr) { // a bare CR before any LF
      eol = cr;
      clean_end = false;
    } else {
      eol = limit; // a bare LF, or the last line without an end
      clean_end = false;
    }

    if (*p == '.' && eol > p) {
      flush(p);
      insert(dot);
      run = p;
      ++stuffed;
    }
    // RFC 5321 §4.5.3.1.6: 998 octets before CRLF.
    if (static_cast<std::size_t>(eol - p) > max_line) {
      const char* q = p + max_line;
      for (;;) {
        flush(q);
        insert(fold);
        inserted += fold.size();
        ++lines_broken;
        run = q;
        if (static_cast<std::size_t>(eol - q) <= max_line - 1) break;
        q += max_line - 1; // the continuation line starts with the SP
      }
    }
    if (clean_end) {
      p = eol + 2;
      continue; // the CRLF stays in the run
    }
    if (eol == end) { // last line without an end
      p = end;
      break;
    }
    // A bare CR or LF: the slice stops before it and CRLF is inserted instead.
    flush(eol);
    insert(crlf);
    inserted += 1; // one byte became two
    p = eol + 1;
    run = p;
  }

  // The last line gets its CRLF, then the terminator.
  flush(end);
  if (m.empty()) {
    insert(terminator);
  } else {
    if (pieces.back().ends_with("\r\n")) {
      insert(terminator);
    } else {
      insert(crlf_terminator);
      inserted += crlf.size();
    }
  }
  message_size = m.size() + inserted;
  wire_size = message_size + stuffed + terminator.size();
}

void append_data_payload(std::string& out, std::string_view m) {
  payload p;
  p.build(m);
  out.reserve(out.size() + p.wire_size);
  for (auto piece : p.pieces)
    out.append(piece);
}

std::string data_payload(std::string_view message) {
  std::string out;
  append_data_payload(out, message);
  return out;
}

} // namespace iaposte::smtp::protocol
