// Header fields: folding at whitespace, unstructured text and address lists (RFC 5322, RFC 2047).
#include <algorithm>

#include "mime/compose.hpp"
#include "mime/detail.hpp"

namespace iaposte::mime::detail {
namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

// A word longer than this cannot be folded to fold_width, so the value is
// written as encoded-words instead, which can be split anywhere.
constexpr std::size_t max_plain_word = 77;

bool has_long_word(std::string_view v) {
  std::size_t run = 0;
  for (char c : v) {
    run = is_wsp(c) ? 0 : run + 1;
    if (run > max_plain_word) return true;
  }
  return false;
}

bool is_atext(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// A display name that RFC 5322 allows as a bare phrase: atoms separated by single spaces.
bool plain_phrase(std::string_view name) {
  if (name.empty() || name.front() == ' ' || name.back() == ' ') return false;
  char prev = 0;
  for (char c : name) {
    if (c == ' ' && prev == ' ') return false;
    if (c != ' ' && !is_atext(c)) return false;
    prev = c;
  }
  return true;
}

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

// What is left for a first word on the line that starts with "Name: ".
std::size_t first_room(std::string_view name) {
  return fold_width > name.size() + 2 ? fold_width - name.size() - 2 : 0;
}

} // namespace

std::string header_clean(std::string_view value) {
  std::string out(value);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }, ' ');
  return out;
}

std::string fold_header(std::string_view name, std::string_view value, bool structured) {
  std::string line(name);
  line += ':';
  if (!value.empty()) {
    line += ' ';
    line += value;
  }
  // Where a fold may go: before a whitespace character, after "Name: ", outside
  // quoted strings in structured fields.
  std::vector<bool> can_fold(line.size(), false);
  bool quoted = false;
  for (std::size_t i = name.size() + 2; i < line.size(); ++i) {
    char c = line[i];
    if (structured && quoted && c == '\\') {
      ++i;
      continue;
    }
    if (structured && c == '"') quoted = !quoted;
    can_fold[i] = is_wsp(c) && !quoted;
  }
  // A fold must leave text on both sides: RFC 5322 §3.2.2 forbids lines of only whitespace.
  std::vector<std::size_t> text_before(line.size() + 1, 0); // non-whitespace count in [0, i)
  for (std::size_t i = 0; i < line.size(); ++i)
    text_before[i + 1] = text_before[i] + (is_wsp(line[i]) ? 0 : 1);
  auto has_text = [&](std::size_t from, std::size_t to) {
    return from < to && text_before[to] > text_before[from];
  };
  std::string out;
  std::size_t start = 0;
  while (line.size() - start > fold_width) {
    std::size_t cut = 0;
    for (std::size_t p = start + fold_width; p > start; --p)
      if (can_fold[p] && has_text(start + 1, p) && has_text(p, line.size())) {
        cut = p;
        break;
      }
    if (cut == 0) // nothing fits: take the first fold point after the width
      for (std::size_t p = start + fold_width + 1; p < line.size(); ++p)
        if (can_fold[p] && has_text(start + 1, p) && has_text(p, line.size())) {
          cut = p;
          break;
        }
    if (cut == 0) break;
    out.append(line, start, cut - start);
    out += crlf;
    start = cut;
  }
  out.append(line, start);
  out += crlf;
  return out;
}

std::string unstructured_header(std::string_view name, std::string_view value) {
  auto v = header_clean(value);
  if (!needs_encoding(v) && !has_long_word(v)) return fold_header(name, v, false);
  return fold_header(name, join_words(encoded_words(v, first_room(name), 75)), false);
}

std::string mailbox(const core::address& a, std::size_t first_room) {
  auto name = header_clean(a.display_name);
  auto email = header_clean(a.email);
  if (name.empty()) return email;
  std::string phrase;
  if (needs_encoding(name) || has_long_word(name)) {
    phrase = join_words(encoded_words(name, first_room, 75));
  } else if (plain_phrase(name)) {
    phrase = name;
  } else {
    // push_back rather than `= "\""`: GCC 12 at -O2 reports a false -Wrestrict on the
    // latter (GCC bug 105329).
    phrase.push_back('"');
    for (char c : name) {
      if (c == '"' || c == '\\') phrase += '\\';
      phrase += c;
    }
    phrase += '"';
  }
  return phrase + " <" + email + ">";
}

std::string address_header(std::string_view name, const std::vector<core::address>& list) {
  std::string value;
  for (const auto& a : list) {
    if (!value.empty()) value += ", ";
    // Only the first mailbox cannot move to a line of its own: no fold right after "Name:".
    value += mailbox(a, value.empty() ? first_room(name) : 75);
  }
  return fold_header(name, value, true);
}

} // namespace iaposte::mime::detail
