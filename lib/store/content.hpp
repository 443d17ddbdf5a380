// A tenant's stored content (templates, contacts, signatures, suppressions): its types, the
// rules on them, and the synchronous API on a connection of its own (CLI, admin API).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.hpp"

namespace iaposte::store {

// --- templates -----------------------------------------------------------------------------

// One locale's variant of a template version.
struct template_parts {
  std::string locale; // '' = the default locale; else a language tag, lower-case ("fr-ca")
  std::string subject, text, html, markdown;
};

struct template_flags {
  bool strict = false;         // rendering fails on a missing variable
  bool allow_raw_html = false; // unescaped HTML ({{{name}}}) allowed
};

// Checks a variant before its version is stored (the render library's template syntax
// check): returns the error, or "" when the variant is fine.
using template_validator = std::function<std::string(const template_parts&, const template_flags&)>;

struct template_put {
  std::string tenant, name;
  std::vector<template_parts> variants; // one per locale, at least one
  // nullopt: unchanged (false for a new template). Flags belong to the template, not to a
  // version: they apply to every version from the next look-up on.
  std::optional<bool> strict, allow_raw_html;
  bool activate = false; // make the new version the active one (the first version always is)
};

struct template_version {
  std::string tenant, name;
  int version = 0;
  int active_version = 0; // the template's, at the time of the read
  template_flags flags;
  std::vector<template_parts> variants; // ordered by locale ('' first)
  core::clock::time_point created_at{};
};

struct template_info {
  std::string name;
  int active_version = 0, latest_version = 0;
  template_flags flags;
  std::vector<std::string> locales; // of the active version
  core::clock::time_point created_at{}, updated_at{};
};

// The variant to use for the wanted locales, in order of preference. Each wanted tag is
// tried, then its shorter prefixes (RFC 4647 §3.4 lookup: "fr-ca" then "fr"), then the
// default locale ''. nullptr when none of those exists.
const template_parts* pick_variant(const std::vector<template_parts>& variants,
                                   const std::vector<std::string>& wanted);

// --- contacts ------------------------------------------------------------------------------

struct contact {
  std::int64_t id = 0; // assigned by the store
  std::string tenant, email, name, company, locale;
  nlohmann::json attributes = nlohmann::json::object(); // free-form; CSV imports give strings
  core::clock::time_point created_at{}, updated_at{};
};

struct import_error {
  std::size_t line = 0; // in the file, 1-based
  std::string message;
};

struct import_result {
  std::size_t rows = 0; // data rows in the file
  std::size_t inserted = 0, updated = 0, unchanged = 0;
  // When not empty, nothing was imported. At most `max_errors` of them are kept.
  std::vector<import_error> errors;
  std::size_t error_count = 0; // all of them, kept or not
};

// --- signatures ----------------------------------------------------------------------------

struct signature {
  std::string tenant;
  std::string sender; // the From address, domain lower-cased; '' = the tenant's default
  std::string html, text;
  core::clock::time_point updated_at{};
};

// --- suppressions --------------------------------------------------------------------------

enum class suppression_reason { hard_bounce, complaint, unsubscribe, manual };
enum class mail_category { transactional, marketing };

std::string_view to_string(suppression_reason r);
std::optional<suppression_reason> suppression_reason_from(std::string_view s);
std::string_view to_string(mail_category c);
std::optional<mail_category> mail_category_from(std::string_view s);

// Marketing mail is stopped by every reason; transactional mail (a receipt, a password
// reset) by a hard bounce, a complaint or a manual entry, not by an unsubscribe from
// marketing.
bool stops(suppression_reason r, mail_category c);

struct suppression {
  std::string tenant;
  std::string address; // normalised: address_key()
  suppression_reason reason = suppression_reason::manual;
  std::string list; // '' = every list
  core::clock::time_point since{};
  std::string source_request_id, note;
};

// Of the entries stored for one address, the one that stops mail of `category` on `list`
// (entries of list '' apply to every list), or nullptr.
const suppression* stopping(const std::vector<suppression>& entries, mail_category category,
                            std::string_view list);

// --- rules ---------------------------------------------------------------------------------

// The key under which an address is unique: local part as given, domain's ASCII letters
// lower-cased (the SQL function address_key() of migration 0007 does the same).
std::string address_key(std::string_view address);

// A lookup that found nothing: an unknown template, version, contact, ... (CLI: exit 1).
class not_found : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// Bad input (a name, an address, a locale, a template refused by the validator) is
// std::invalid_argument with a readable message (CLI: exit 2). PostgreSQL failures are
// std::runtime_error without the password (CLI: exit 1).

// --- the synchronous API -------------------------------------------------------------------

// One connection: use an object from one thread at a time (one per admin handler thread).
class content_store {
public:
  // Connects on first use; a lost connection is reopened by the next call.
  explicit content_store(std::string url);
  ~content_store();
  content_store(const content_store&) = delete;
  content_store& operator=(const content_store&) = delete;

  // Stores a new version (max + 1 for this template) with all its variants in one
  // transaction and returns its number. `validate` (when set) sees each variant first; its
  // error refuses the put (std::invalid_argument naming the locale).
  int put_template(const template_put& t, const template_validator& validate = {});
  // The version (the active one by default) with all its variants; not_found otherwise.
  template_version get_template(const std::string& tenant, const std::string& name,
                                std::optional<int> version = std::nullopt);
  std::vector<template_info> list_templates(const std::string& tenant);
  // Makes `version` the one requests get by default; not_found for an unknown one.
  void activate_template(const std::string& tenant, const std::string& name, int version);

  // Inserts, or updates the contact with the same email key; returns the stored row.
  contact upsert_contact(const contact& c);
  std::optional<contact> find_contact(const std::string& tenant, std::int64_t id);
  std::optional<contact> find_contact(const std::string& tenant, const std::string& email);
  bool delete_contact(const std::string& tenant, std::int64_t id);
  bool delete_contact(const std::string& tenant, const std::string& email);
  // RFC 4180 CSV (docs/CONTENT.md): every contact of the tenant, in creation order; returns
  // how many.
  std::size_t export_contacts(const std::string& tenant, std::ostream& out);
  // Reads the whole CSV text; imports every row in one transaction, or none when any row is
  // bad (the result lists the errors with their lines).
  import_result import_contacts(const std::string& tenant, std::string_view csv_text,
                                std::size_t max_errors = 1000);

  void set_signature(const signature& s);
  // The sender's signature; with `fall_back`, the tenant's default when the sender has none.
  std::optional<signature> get_signature(const std::string& tenant, const std::string& sender,
                                         bool fall_back = false);

  // Adds the entry (idempotent). When the address is already suppressed on that list, the
  // stored reason changes only when the new one stops more mail (unsubscribe, then any
  // other reason): the first reason, since and note are kept otherwise. Returns the stored
  // entry.
  suppression add_suppression(const suppression& s);
  // Removes the address from `list` (only when its reason is `reason`, if given); false when
  // there was nothing to remove.
  bool remove_suppression(const std::string& tenant, const std::string& address,
                          const std::string& list,
                          std::optional<suppression_reason> reason = std::nullopt);
  std::vector<suppression> list_suppressions(const std::string& tenant,
                                             std::optional<suppression_reason> reason = {});
  // The entry that stops mail of `category` on `list` to `address`, if any.
  std::optional<suppression> is_suppressed(const std::string& tenant, const std::string& address,
                                           mail_category category, const std::string& list = "");

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace iaposte::store
