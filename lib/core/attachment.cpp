// Reading and checking a request's attachments: base64, file names, media types, Content-IDs.
#include "core/attachment.hpp"

#include <algorithm>
#include <map>

#include "core/syntax.hpp"

namespace iaposte::core {
namespace {

using ojson = nlohmann::ordered_json;
using detail::quote;

constexpr std::size_t max_filename = 255;  // octets: what common file systems take
constexpr std::size_t max_content_id = 64; // "Content-ID: <...>" stays within 78 columns

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Formatting characters that change how a name reads without being seen: the bidirectional
// controls (the "right-to-left override" extension trick), zero-width characters, separators.
bool formatting(long cp) {
  return cp == 0x061C || cp == 0x180E || (cp >= 0x200B && cp <= 0x200F) ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF;
}

// RFC 6838 §4.2 restricted-name.
bool restricted_name(std::string_view s) {
  if (s.empty() || s.size() > 127 || !is_alnum(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_alnum(c) || std::string_view("!#$&-^_.+").find(c) != std::string_view::npos;
  });
}

// Dot-separated words of the characters a cid URL and an HTML attribute take unescaped.
bool id_words(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char c : s) {
    if (c == '.' && prev == '.') return false;
    if (c != '.' && !is_alnum(c) && std::string_view("!$*+-_=~").find(c) == std::string_view::npos)
      return false;
    prev = c;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// RFC 2392 §2: a cid URL is the Content-ID with URL escapes.
std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The "cid:" URLs of an HTML document, in order. A reference is "cid:" right after a quote, '=' or
// '(' (spaces allowed between): src="cid:x", src=cid:x, url(cid:x), url('cid:x'). Text that only
// mentions "cid:" in a sentence is not one.
std::vector<std::string> cid_references(std::string_view html) {
  std::vector<std::string> refs;
  for (std::size_t i = 0; i + 4 <= html.size(); ++i) {
    if (lower(html[i]) != 'c' || lower(html[i + 1]) != 'i' || lower(html[i + 2]) != 'd' ||
        html[i + 3] != ':')
      continue;
    std::size_t k = i;
    while (k > 0 && (html[k - 1] == ' ' || html[k - 1] == '\t' || html[k - 1] == '\r' ||
                     html[k - 1] == '\n'))
      --k;
    if (k == 0 || std::string_view("\"'=(").find(html[k - 1]) == std::string_view::npos) continue;
    std::size_t end = i + 4;
    while (end < html.size() &&
           std::string_view("\"'()<> \t\r\n").find(html[end]) == std::string_view::npos)
      ++end;
    refs.push_back(percent_decode(html.substr(i + 4, end - i - 4)));
    i = end - 1;
  }
  return refs;
}

std::string must_be(const std::string& field, std::string_view what, const ojson& got) {
  return field + ": must be " + std::string(what) + " (got " + got.type_name() + ")";
}

// One item of the array; `seen` maps each content_id to the index that has it.
std::string read_one(const ojson& j, const std::string& where, std::size_t index,
                     std::map<std::string, std::size_t>& seen, attachment& a) {
  if (!j.is_object()) return must_be(where, "an object", j);
  for (const auto& item : j.items()) {
    const auto& k = item.key();
    if (k != "filename" && k != "content_type" && k != "content_base64" && k != "content_id" &&
        k != "inline_cid")
      return where + ": unknown field: " + quote(k);
    if (!item.value().is_string()) return must_be(where + "." + k, "a string", item.value());
  }
  // inline_cid is the name the request format documents; content_id is its synonym.
  auto cid = j.find("inline_cid");
  if (cid != j.end() && j.contains("content_id"))
    return where + ": inline_cid and content_id are the same field, give one";
  if (cid == j.end()) cid = j.find("content_id");
  const std::string cid_field = where + (j.contains("inline_cid") ? ".inline_cid" : ".content_id");
  if (cid != j.end()) {
    a.content_id = cid->get<std::string>();
    if (auto why = check_content_id(a.content_id); !why.empty()) return cid_field + ": " + why;
    auto [at, fresh] = seen.emplace(a.content_id, index);
    if (!fresh)
      return cid_field + ": " + quote(a.content_id) + " is already the content_id of " +
             "attachments[" + std::to_string(at->second) + "]";
  }
  if (auto it = j.find("filename"); it != j.end()) {
    a.filename = it->get<std::string>();
    if (auto why = check_filename(a.filename); !why.empty()) return where + ".filename: " + why;
  } else if (a.content_id.empty()) {
    return "missing required field: " + where + ".filename";
  }
  a.content_type = "application/octet-stream";
  if (auto it = j.find("content_type"); it != j.end())
    if (auto why = normalise_content_type(it->get_ref<const std::string&>(), a.content_type);
        !why.empty())
      return where + ".content_type: " + why;
  auto data = j.find("content_base64");
  if (data == j.end()) return "missing required field: " + where + ".content_base64";
  if (auto why = decode_base64(data->get_ref<const std::string&>(), a.data); !why.empty())
    return where + ".content_base64: " + why;
  return {};
}

} // namespace

std::string decode_base64(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size() / 4 * 3);
  std::size_t position = 0; // characters seen, counting from 1 at the current one
  unsigned acc = 0;
  int have = 0;              // characters of the current group of 4
  int padding = 0;           // '=' seen in the last group
  std::size_t last_data = 0; // position of the last character that carried bits
  auto at = [&](std::string_view why) {
    return "invalid base64 at character " + std::to_string(position) + " (" + std::string(why) +
           ")";
  };
  // Character by character (a byte of ill-formed UTF-8 counts as one), so that the position is
  // the one an editor shows.
  for (std::size_t i = 0, n = 1; i < in.size(); i += n) {
    if (detail::decode_utf8(in, i, n) < 0) n = 1;
    ++position;
    char c = in[i];
    if (c == '\n' || (c == '\r' && i + 1 < in.size() && in[i + 1] == '\n')) continue;
    if (padding > 0 && have == 0) return at("data after the final \"=\" padding");
    if (c == '=') {
      if (have < 2) return at("\"=\" padding too early in a group of 4");
      ++padding;
      if (++have == 4) {
        // Canonical encoding (RFC 4648 §3.5): the bits the padding leaves unused are zero.
        if ((padding == 1 && (acc & 0x3)) || (padding == 2 && (acc & 0xF)))
          return "invalid base64 at character " + std::to_string(last_data) +
                 " (not canonical: its unused bits are not zero)";
        if (padding == 1) {
          out += static_cast<char>((acc >> 10) & 0xFF);
          out += static_cast<char>((acc >> 2) & 0xFF);
        } else {
          out += static_cast<char>((acc >> 4) & 0xFF);
        }
        have = 0;
      }
      continue;
    }
    if (padding > 0) return at("data after \"=\" padding");
    int v = base64_value(c);
    if (v < 0) return at(quote(in.substr(i, n)) + " is not in the base64 alphabet");
    last_data = position;
    acc = (acc << 6) | static_cast<unsigned>(v);
    if (++have == 4) {
      out += static_cast<char>((acc >> 16) & 0xFF);
      out += static_cast<char>((acc >> 8) & 0xFF);
      out += static_cast<char>(acc & 0xFF);
      acc = 0;
      have = 0;
    }
  }
  if (have != 0) {
    ++position;
    return at("the text ends inside a group of 4 characters: missing \"=\" padding?");
  }
  return {};
}

std::string check_filename(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > max_filename)
    return "longer than " + std::to_string(max_filename) + " octets (" +
           std::to_string(name.size()) + ")";
  if (name == "." || name == "..") return quote(name) + " is not a file name";
  for (std::size_t i = 0, n = 1; i < name.size(); i += n) {
    long cp = detail::decode_utf8(name, i, n);
    if (cp < 0) return "not valid UTF-8";
    if (cp == '/' || cp == '\\')
      return "contains a path separator " + quote(name.substr(i, 1)) + ": a file name only";
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
      return "contains a control character (" + detail::code_point_name(cp) + ")";
    if (formatting(cp))
      return "contains " + detail::code_point_name(cp) +
             ", an invisible or bidirectional formatting character";
  }
  return {};
}

std::string normalise_content_type(std::string_view in, std::string& out) {
  auto slash = in.find('/');
  std::string lowered(in);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), lower);
  if (in.find(';') != std::string_view::npos)
    return quote(in) + ": no parameters (charset, name...): only type/subtype";
  if (slash == std::string_view::npos || !restricted_name(in.substr(0, slash)) ||
      !restricted_name(in.substr(slash + 1)))
    return "invalid media type " + quote(in) + " (expected type/subtype, e.g. application/pdf)";
  if (lowered.rfind("multipart/", 0) == 0 || lowered.rfind("message/", 0) == 0)
    return quote(in) + " cannot be an attachment's type (multipart/* and message/* are not "
                       "opaque bodies)";
  out = std::move(lowered);
  return {};
}

std::string check_content_id(std::string_view id) {
  auto at = id.find('@');
  bool ok = !id.empty() && id.size() <= max_content_id && at != std::string_view::npos &&
            id.find('@', at + 1) == std::string_view::npos && id_words(id.substr(0, at)) &&
            id_words(id.substr(at + 1));
  if (ok) return {};
  return "invalid Content-ID " + quote(id) +
         " (expected id@domain of letters, digits, dots and !$*+-_=~, at most " +
         std::to_string(max_content_id) + ", e.g. \"logo@acme.fr\")";
}

std::string check_inline_references(std::string_view html, const std::vector<attachment>& list) {
  auto refs = cid_references(html);
  for (const auto& r : refs) {
    bool found = std::any_of(list.begin(), list.end(),
                             [&](const attachment& a) { return a.content_id == r; });
    if (!found)
      return "html: " + quote("cid:" + r) + " names no attachment (no content_id " + quote(r) + ")";
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& id = list[i].content_id;
    if (id.empty() || std::find(refs.begin(), refs.end(), id) != refs.end()) continue;
    std::string where = "attachments[" + std::to_string(i) + "].content_id: ";
    if (html.empty())
      return where + "an inline attachment needs an html body that shows it (as " +
             quote("cid:" + id) + ")";
    return where + quote(id) + " is not shown by the html (no " + quote("cid:" + id) + ")";
  }
  return {};
}

std::string read_attachments(const ojson& j, std::size_t max_count, std::size_t max_bytes,
                             std::vector<attachment>& out) {
  if (!j.is_array()) return must_be("attachments", "an array", j);
  if (j.size() > max_count)
    return "attachments: too many (" + std::to_string(j.size()) + " > " +
           std::to_string(max_count) + ")";
  std::map<std::string, std::size_t> seen;
  std::size_t total = 0;
  for (std::size_t i = 0; i < j.size(); ++i) {
    attachment a;
    if (auto e = read_one(j[i], "attachments[" + std::to_string(i) + "]", i, seen, a); !e.empty())
      return e;
    total += a.data.size();
    if (total > max_bytes)
      return "attachments: too large: " + std::to_string(total) + " bytes decoded > " +
             std::to_string(max_bytes);
    out.push_back(std::move(a));
  }
  return {};
}

} // namespace iaposte::core
