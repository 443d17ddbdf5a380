// Parsing of the one-click POST body: the media type and its parameters (RFC 9110 §8.3.1),
// application/x-www-form-urlencoded (WHATWG URL §5.1) and multipart/form-data (RFC 7578,
// RFC 2046 §5.1.1). Everything is bounded by the body the admin server already limited.
#include "unsubscribe/form.hpp"

#include <optional>
#include <utility>
#include <vector>

namespace iaposte::unsubscribe {

namespace {

constexpr std::string_view pair_name = "list-unsubscribe";
constexpr std::string_view pair_value = "one-click";
constexpr std::size_t max_parts = 64;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

bool tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

using params = std::vector<std::pair<std::string, std::string>>;

// `value; name=value; name="quoted \"value\""`: the first item, then the parameters; nullopt
// when the syntax is broken.
std::optional<std::pair<std::string_view, params>> split_header(std::string_view h) {
  const auto semi = h.find(';');
  std::pair<std::string_view, params> out{trim(h.substr(0, semi)), {}};
  if (semi == std::string_view::npos) return out;
  std::size_t i = semi + 1;
  while (i < h.size()) {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == ';'))
      ++i;
    if (i >= h.size()) break;
    std::size_t start = i;
    while (i < h.size() && tchar(h[i]))
      ++i;
    std::string name(h.substr(start, i - start));
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t'))
      ++i;
    if (name.empty() || i >= h.size() || h[i] != '=') return std::nullopt;
    ++i;
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t'))
      ++i;
    std::string value;
    if (i < h.size() && h[i] == '"') {
      ++i;
      bool closed = false;
      while (i < h.size()) {
        char c = h[i++];
        if (c == '\\' && i < h.size()) {
          value += h[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) return std::nullopt;
    } else {
      start = i;
      while (i < h.size() && tchar(h[i]))
        ++i;
      value.assign(h.substr(start, i - start));
      if (value.empty()) return std::nullopt;
    }
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t'))
      ++i;
    if (i < h.size() && h[i] != ';') return std::nullopt;
    out.second.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

const std::string* param(const params& ps, std::string_view name) {
  for (const auto& [n, v] : ps)
    if (iequals(n, name)) return &v;
  return nullptr;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// '+' is a space, %XX a byte; nullopt for a '%' without two hex digits.
std::optional<std::string> form_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

form_check urlencoded(std::string_view body) {
  body = trim(body); // a final CRLF some clients add
  if (body.empty())
    return {form_verdict::not_one_click, "empty body: expected List-Unsubscribe=One-Click"};
  std::size_t start = 0;
  while (start <= body.size()) {
    const auto amp = std::min(body.find('&', start), body.size());
    const std::string_view item = body.substr(start, amp - start);
    start = amp + 1;
    if (item.empty()) continue;
    const auto eq = item.find('=');
    auto name = form_decode(item.substr(0, eq));
    auto value = form_decode(eq == std::string_view::npos ? "" : item.substr(eq + 1));
    if (!name || !value)
      return {form_verdict::not_one_click, "malformed percent-encoding in the form body"};
    if (iequals(trim(*name), pair_name) && iequals(trim(*value), pair_value))
      return {form_verdict::one_click, {}};
  }
  return {form_verdict::not_one_click, "the form has no List-Unsubscribe=One-Click"};
}

// The next line break at or after `from`: its position and length (CRLF or a bare LF).
std::pair<std::size_t, std::size_t> line_break(std::string_view s, std::size_t from) {
  const auto lf = s.find('\n', from);
  if (lf == std::string_view::npos) return {std::string_view::npos, 0};
  if (lf > from && s[lf - 1] == '\r') return {lf - 1, 2};
  return {lf, 1};
}

// The part's field name when its Content-Disposition is form-data, else "".
std::string disposition_name(std::string_view headers) {
  std::size_t pos = 0;
  while (pos < headers.size()) {
    auto [end, len] = line_break(headers, pos);
    const std::string_view line =
        headers.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? headers.size() : end + len;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos ||
        !iequals(trim(line.substr(0, colon)), "content-disposition"))
      continue;
    auto parsed = split_header(line.substr(colon + 1));
    if (!parsed || !iequals(parsed->first, "form-data")) return {};
    const std::string* name = param(parsed->second, "name");
    return name ? *name : std::string{};
  }
  return {};
}

form_check multipart(const params& ps, std::string_view body) {
  const std::string* boundary = param(ps, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > 70)
    return {form_verdict::not_one_click, "multipart/form-data without a valid boundary"};
  const std::string delimiter = "--" + *boundary;
  // The first delimiter: at the start, or at the start of a line after a preamble.
  std::size_t pos = body.starts_with(delimiter) ? 0 : std::string_view::npos;
  if (pos == std::string_view::npos) {
    const auto at = body.find("\n" + delimiter);
    if (at != std::string_view::npos) pos = at + 1;
  }
  if (pos == std::string_view::npos)
    return {form_verdict::not_one_click, "multipart body without its boundary"};
  for (std::size_t parts = 0; parts < max_parts; ++parts) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") break; // the close delimiter
    // Transport padding, then the line break that ends the delimiter line.
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t'))
      ++pos;
    auto [eol, eol_len] = line_break(body, pos);
    if (eol != pos) return {form_verdict::not_one_click, "malformed multipart delimiter line"};
    pos += eol_len;
    // The part runs to the line break before the next delimiter.
    const auto next = body.find("\n" + delimiter, pos);
    if (next == std::string_view::npos)
      return {form_verdict::not_one_click, "multipart body without its close delimiter"};
    const std::size_t content_end = next > pos && body[next - 1] == '\r' ? next - 1 : next;
    const std::string_view part = body.substr(pos, content_end - pos);
    pos = next + 1;
    // Headers, a blank line, the value.
    std::size_t blank = std::string_view::npos, blank_len = 0;
    if (part.starts_with("\r\n")) {
      blank = 0, blank_len = 2;
    } else if (part.starts_with("\n")) {
      blank = 0, blank_len = 1;
    } else if (auto crlf = part.find("\r\n\r\n"); crlf != std::string_view::npos) {
      blank = crlf + 2, blank_len = 2;
    } else if (auto lf = part.find("\n\n"); lf != std::string_view::npos) {
      blank = lf + 1, blank_len = 1;
    }
    if (blank == std::string_view::npos) continue; // headers only: no value
    const std::string name = disposition_name(part.substr(0, blank));
    const std::string_view value = part.substr(blank + blank_len);
    if (iequals(trim(name), pair_name) && iequals(trim(value), pair_value))
      return {form_verdict::one_click, {}};
  }
  return {form_verdict::not_one_click, "the form has no List-Unsubscribe=One-Click part"};
}

} // namespace

form_check check_one_click(std::string_view content_type, std::string_view body) {
  auto parsed = split_header(content_type);
  if (!parsed || parsed->first.empty())
    return {form_verdict::unsupported_type,
            content_type.empty() ? "no Content-Type: expected application/x-www-form-urlencoded "
                                   "or multipart/form-data"
                                 : "malformed Content-Type"};
  if (iequals(parsed->first, "application/x-www-form-urlencoded")) return urlencoded(body);
  if (iequals(parsed->first, "multipart/form-data")) return multipart(parsed->second, body);
  return {form_verdict::unsupported_type,
          "unsupported Content-Type: expected application/x-www-form-urlencoded or "
          "multipart/form-data (RFC 8058 §3.2)"};
}

} // namespace iaposte::unsubscribe
