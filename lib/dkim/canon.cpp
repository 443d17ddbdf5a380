// Splits a message into header fields and body; relaxed canonicalisation (RFC 6376 §3.4).
#include "dkim/canon.hpp"

#include <algorithm>
#include <cstring>

#include "dkim/dkim.hpp"

namespace iaposte::dkim::detail {

namespace {

bool wsp(char c) {
  return c == ' ' || c == '\t';
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Every LF preceded by CR and every CR followed by LF: two memchr passes, one stop per line.
void check_line_ends(std::string_view m) {
  if (m.empty()) return; // memchr is never given an empty view's null data
  const char* const begin = m.data();
  const char* const end = begin + m.size();
  for (const char* p = begin;
       (p = static_cast<const char*>(std::memchr(p, '\n', end - p))) != nullptr; ++p)
    if (p == begin || p[-1] != '\r')
      throw error("message: bare LF at byte " + std::to_string(p - begin) +
                  " (every line must end with CRLF)");
  for (const char* p = begin;
       (p = static_cast<const char*>(std::memchr(p, '\r', end - p))) != nullptr; ++p)
    if (p + 1 == end || p[1] != '\n')
      throw error("message: bare CR at byte " + std::to_string(p - begin) +
                  " (every line must end with CRLF)");
}

// RFC 5322 §3.6.8: printable US-ASCII except ':'.
bool valid_name(std::string_view n) {
  if (n.empty()) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return c >= 33 && c <= 126 && c != ':'; });
}

} // namespace

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

parsed_message parse_message(std::string_view m) {
  check_line_ends(m);
  parsed_message out;
  std::size_t pos = 0;
  for (std::size_t line = 1;; ++line) {
    if (pos == m.size()) return out; // a header section and no body
    const std::size_t eol = m.find("\r\n", pos);
    if (eol == std::string_view::npos)
      throw error("message: header line " + std::to_string(line) + " does not end with CRLF");
    if (eol == pos) {
      out.body = m.substr(pos + 2);
      return out;
    }
    if (wsp(m[pos])) {
      if (out.headers.empty())
        throw error("message: the first header line is a continuation line (starts with "
                    "whitespace)");
      auto& last = out.headers.back();
      last.raw = std::string_view(last.raw.data(), m.data() + eol - last.raw.data());
    } else {
      const std::size_t colon = m.find(':', pos);
      if (colon >= eol)
        throw error("message: header line " + std::to_string(line) +
                    " is not a header field (no colon)");
      std::size_t name_end = colon;
      while (name_end > pos && wsp(m[name_end - 1]))
        --name_end;
      const std::string_view name = m.substr(pos, name_end - pos);
      if (!valid_name(name))
        throw error("message: header line " + std::to_string(line) +
                    " has an invalid field name (printable ASCII without spaces expected)");
      out.headers.push_back({name, m.substr(pos, eol - pos)});
    }
    pos = eol + 2;
  }
}

void relaxed_header(std::string_view raw, std::string& out) {
  std::size_t colon = raw.find(':');
  if (colon == std::string_view::npos) colon = raw.size();
  std::size_t name_end = colon;
  while (name_end > 0 &&
         (wsp(raw[name_end - 1]) || raw[name_end - 1] == '\r' || raw[name_end - 1] == '\n'))
    --name_end;
  for (std::size_t i = 0; i < name_end; ++i)
    out += lower(raw[i]);
  out += ':';
  bool space = false, started = false;
  for (std::size_t i = colon + 1; i < raw.size(); ++i) {
    const char c = raw[i];
    // Unfolding (RFC 5322 §2.2.3): a CRLF followed by WSP is removed, the WSP stays.
    if (c == '\r' && i + 2 < raw.size() && raw[i + 1] == '\n' && wsp(raw[i + 2])) {
      ++i;
      continue;
    }
    if (wsp(c)) {
      space = true;
      continue;
    }
    if (space && started) out += ' ';
    space = false;
    started = true;
    out += c;
  }
  out += "\r\n";
}

std::string relaxed_header(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() + 2);
  relaxed_header(raw, out);
  return out;
}

void relaxed_body(std::string_view body, std::string& out) {
  // Written through a pointer into room made beforehand (the result is never longer than the
  // body plus a final CRLF): this runs over every octet of every message.
  const std::size_t start = out.size();
  out.resize(start + body.size() + 2);
  char* const first = out.data() + start;
  char* w = first;
  std::size_t empty_lines = 0; // held back until a non-empty line follows them
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t eol = body.find("\r\n", pos);
    const std::size_t next = eol == std::string_view::npos ? body.size() : eol + 2;
    if (eol == std::string_view::npos) eol = body.size();
    // The line with WSP runs made one SP and trailing WSP removed.
    std::size_t end = eol;
    while (end > pos && wsp(body[end - 1]))
      --end;
    if (end == pos) {
      ++empty_lines;
    } else {
      for (; empty_lines > 0; --empty_lines) {
        *w++ = '\r';
        *w++ = '\n';
      }
      // Branch-free: a WSP is written as SP, and the pointer moves on unless the octet
      // before was WSP too (spaces are frequent and unpredictable in text).
      bool prev = false;
      for (std::size_t i = pos; i < end; ++i) {
        const char c = body[i];
        const bool is_wsp = wsp(c);
        *w = is_wsp ? ' ' : c;
        w += !(is_wsp && prev);
        prev = is_wsp;
      }
      *w++ = '\r';
      *w++ = '\n';
    }
    pos = next;
  }
  out.resize(start + static_cast<std::size_t>(w - first));
}

std::string relaxed_body(std::string_view body) {
  std::string out;
  out.reserve(body.size() + 2);
  relaxed_body(body, out);
  return out;
}

} // namespace iaposte::dkim::detail
