// Locale variant choice: exact tag, then the bare language, then a sibling region, then default.
#include "render/locale.hpp"

namespace iaposte::render {
namespace {

// "fr_CA.UTF-8@euro" → "fr-ca": POSIX suffixes dropped, '_' as '-', lower case (BCP 47 tags
// compare case-insensitively, RFC 5646 §2.1.1).
std::string normalize(std::string_view tag) {
  if (auto cut = tag.find_first_of(".@"); cut != std::string_view::npos) tag = tag.substr(0, cut);
  std::string out;
  out.reserve(tag.size());
  for (char c : tag) {
    if (c == ' ' || c == '\t') continue;
    if (c == '_') c = '-';
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out += c;
  }
  return out;
}

std::string_view language(std::string_view tag) {
  return tag.substr(0, tag.find('-'));
}

} // namespace

std::optional<std::string> choose_variant(std::span<const std::string> available,
                                          std::string_view wanted) {
  const std::string want = normalize(wanted);
  std::optional<std::string> fallback;
  if (!want.empty()) {
    for (const auto& v : available)
      if (normalize(v) == want) return v;
    const std::string_view lang = language(want);
    for (const auto& v : available)
      if (normalize(v) == lang) return v;
    for (const auto& v : available) {
      std::string n = normalize(v);
      if (!n.empty() && language(n) == lang) return v;
    }
  }
  for (const auto& v : available)
    if (normalize(v).empty()) return v;
  return std::nullopt;
}

} // namespace iaposte::render
