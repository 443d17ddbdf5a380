// The content rules (address keys, locale fallback, which suppression stops which mail) and
// the checks of what a caller gives (no PostgreSQL here: the CSV fuzz target links it).
#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "core/request.hpp"
#include "csv/csv.hpp"
#include "store/content.hpp"
#include "store/content_checks.hpp"

namespace iaposte::store {

// --- rules ---------------------------------------------------------------------------------

std::string_view to_string(suppression_reason r) {
  switch (r) {
  case suppression_reason::hard_bounce:
    return "hard_bounce";
  case suppression_reason::complaint:
    return "complaint";
  case suppression_reason::unsubscribe:
    return "unsubscribe";
  case suppression_reason::manual:
    return "manual";
  }
  return "manual";
}

std::optional<suppression_reason> suppression_reason_from(std::string_view s) {
  for (auto r : {suppression_reason::hard_bounce, suppression_reason::complaint,
                 suppression_reason::unsubscribe, suppression_reason::manual})
    if (to_string(r) == s) return r;
  return std::nullopt;
}

std::string_view to_string(mail_category c) {
  return c == mail_category::marketing ? "marketing" : "transactional";
}

std::optional<mail_category> mail_category_from(std::string_view s) {
  if (s == "marketing") return mail_category::marketing;
  if (s == "transactional") return mail_category::transactional;
  return std::nullopt;
}

bool stops(suppression_reason r, mail_category c) {
  // An unsubscribe is from marketing: a receipt or a password reset still goes out. A hard
  // bounce (the mailbox does not exist), a complaint (the recipient called us spam) and an
  // operator's manual entry stop everything.
  return c == mail_category::marketing || r != suppression_reason::unsubscribe;
}

const suppression* stopping(const std::vector<suppression>& entries, mail_category category,
                            std::string_view list) {
  for (const auto& s : entries)
    if ((s.list.empty() || s.list == list) && stops(s.reason, category)) return &s;
  return nullptr;
}

std::string address_key(std::string_view address) {
  const auto at = address.rfind('@');
  std::string out(address);
  if (at == std::string_view::npos) return out;
  for (std::size_t i = at + 1; i < out.size(); ++i)
    if (out[i] >= 'A' && out[i] <= 'Z') out[i] = static_cast<char>(out[i] - 'A' + 'a');
  return out;
}

namespace {

std::string lower_tag(std::string_view tag) {
  std::string out;
  for (char c : tag)
    out.push_back(c == '_' ? '-' : (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
  return out;
}

} // namespace

const template_parts* pick_variant(const std::vector<template_parts>& variants,
                                   const std::vector<std::string>& wanted) {
  auto find = [&](std::string_view locale) -> const template_parts* {
    for (const auto& v : variants)
      if (v.locale == locale) return &v;
    return nullptr;
  };
  for (const auto& w : wanted) {
    std::string tag = lower_tag(w);
    while (!tag.empty()) {
      if (const auto* v = find(tag)) return v;
      // RFC 4647 §3.4: drop the last subtag, and a single-letter one (an extension or
      // private-use singleton) left at the end with it.
      auto dash = tag.rfind('-');
      if (dash == std::string::npos) break;
      tag.resize(dash);
      if (dash = tag.rfind('-'); dash != std::string::npos && tag.size() - dash == 2)
        tag.resize(dash);
    }
  }
  return find("");
}

// --- input checks --------------------------------------------------------------------------

namespace detail {

std::string shown(std::string_view value) {
  constexpr std::size_t max = 80;
  std::string out = "'";
  std::size_t i = 0;
  for (; i < value.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (i < value.size()) out += "...";
  if (!csv::valid_utf8(out)) // cut inside a character, or not UTF-8: keep the ASCII
    for (auto& c : out)
      if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  return out + "'";
}

void check_tenant(std::string_view tenant) {
  const bool ok = !tenant.empty() && tenant.size() <= 64 &&
                  std::all_of(tenant.begin(), tenant.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
                  });
  if (!ok)
    throw std::invalid_argument("invalid tenant " + shown(tenant) +
                                " (expected 1-64 of [a-z0-9_-])");
}

void check_template_name(std::string_view name) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  const bool ok = !name.empty() && name.size() <= 128 && alnum(name.front()) &&
                  std::all_of(name.begin(), name.end(),
                              [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
  if (!ok)
    throw std::invalid_argument("invalid template name " + shown(name) +
                                " (expected 1-128 of [A-Za-z0-9._-], starting with a letter "
                                "or digit)");
}

std::string normal_locale(std::string_view locale, std::string_view what) {
  if (locale.empty()) return {};
  // A BCP 47 language tag in its common shapes (RFC 5646 §2.1): a 2-8 letter language, then
  // subtags of 1-8 letters or digits. '_' (POSIX "fr_CA") is taken for '-'.
  std::string tag = lower_tag(locale);
  bool ok = tag.size() <= 35;
  std::size_t start = 0, index = 0;
  while (ok) {
    const auto dash = tag.find('-', start);
    const std::string_view sub =
        std::string_view(tag).substr(start, dash == std::string::npos ? dash : dash - start);
    const bool letters =
        std::all_of(sub.begin(), sub.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    const bool alnum = std::all_of(sub.begin(), sub.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    });
    ok = index == 0 ? sub.size() >= 2 && sub.size() <= 8 && letters
                    : !sub.empty() && sub.size() <= 8 && alnum;
    if (dash == std::string::npos) break;
    start = dash + 1;
    ++index;
  }
  if (!ok)
    throw std::invalid_argument(std::string(what) + ": invalid locale " + shown(locale) +
                                " (expected a language tag such as fr or fr-CA)");
  return tag;
}

void check_text(std::string_view value, std::string_view what) {
  if (!csv::valid_utf8(value))
    throw std::invalid_argument(std::string(what) + ": not valid UTF-8 text (or holds a NUL)");
}

void check_email(std::string_view email, std::string_view what) {
  if (!core::valid_email(email))
    throw std::invalid_argument(std::string(what) + ": invalid email address " + shown(email));
}

void check_list(std::string_view list) {
  check_text(list, "list");
  const bool ok = list.size() <= 128 && std::none_of(list.begin(), list.end(), [](char c) {
                    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
                  });
  if (!ok) throw std::invalid_argument("invalid list name " + shown(list) + " (1-128 printable)");
}

} // namespace detail
} // namespace iaposte::store
