// Batched look-ups of stored content for the worker's hot path (one statement answers a whole
// batch of requests, templates and signatures cached in process), and batched suppression
// writes, on a thread and a connection of their own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/content.hpp"

namespace iaposte::store {

struct content_lookup_config {
  std::string url;             // libpq connection string or URI; never logged
  std::size_t batch_max = 512; // look-ups (and, separately, suppression writes) per statement
  std::chrono::milliseconds retry_interval{500}; // between attempts while PG is down
  // How long a template's active version and flags, and a sender's signature, are reused
  // before PostgreSQL is asked again: an `activate`, a flag change or a new signature is seen
  // by every daemon within this time. Template versions are immutable and kept without
  // expiry (least recently used first out past version_cache_max).
  std::chrono::milliseconds template_ttl{5000};
  std::chrono::milliseconds signature_ttl{5000};
  std::size_t version_cache_max = 10000;
};

struct template_ref {
  std::string name;
  std::optional<int> version;       // nullopt: the active version
  std::vector<std::string> locales; // wanted, best first; the default locale comes last
  // Try the locale of the query's first contact (when found) right after `locales`: the
  // contact is only known once looked up, in the same statement.
  bool contact_locale = false;
};

// One of the two.
struct contact_ref {
  std::optional<std::int64_t> id;
  std::string email; // matched by address_key (domain case-insensitive)
};

// What one request needs from the store.
struct content_query {
  std::string tenant;
  std::optional<template_ref> tmpl;
  std::vector<contact_ref> contacts;
  std::optional<std::string> sender;   // the From address: its signature, else the tenant's
  std::vector<std::string> recipients; // checked against the suppression list
  mail_category category = mail_category::transactional;
  std::string list; // the mailing list the message belongs to ('' = none)
};

struct resolved_template {
  std::string name;
  int version = 0;
  template_flags flags;
  template_parts parts; // the variant picked for the wanted locales (pick_variant)
};

struct content_answer {
  // Set when the look-up could not be answered (stop() came first, or PostgreSQL refused its
  // statement): the rest is then empty and means nothing. Things that do not exist are not
  // errors: see template_error and the empty optionals.
  std::string error;
  std::optional<resolved_template> tmpl;
  std::string template_error; // the template asked for: unknown, unknown version, no locale
  std::vector<std::optional<contact>> contacts; // one per contact_ref; nullopt: no such contact
  std::optional<signature> sig;                 // the sender's, else the tenant's default
  // The recipients whose mail is stopped (the category and list of the query), in the order
  // given, each with the entry that stops it; then the contacts found that are stopped (the
  // caller knows which of them are recipients).
  std::vector<suppression> suppressed;
};

class content_lookup {
public:
  explicit content_lookup(content_lookup_config cfg);
  ~content_lookup(); // stop()
  content_lookup(const content_lookup&) = delete;
  content_lookup& operator=(const content_lookup&) = delete;

  // Starts the thread; what was queued before waits for it.
  void start();
  // Keeps answering what is queued for at most `deadline`, then answers what is left with an
  // error ("content look-up stopped") and joins the thread. Calls made after stop() are
  // answered at once, with the same error, on the caller's thread.
  void stop(std::chrono::milliseconds deadline = std::chrono::milliseconds{2000});

  // `done` runs on the look-up thread: keep it short (post to your own executor). While
  // PostgreSQL is down the look-up waits and is retried; it is never answered from
  // partial or guessed data.
  void lookup(content_query q, std::function<void(content_answer)> done);

  // Adds the entry to the suppression list (content_store::add_suppression's rule on
  // reasons), batched with others; idempotent. `done` gets "" once it is stored, else why not
  // (an invalid address, stop() first). Written before the look-ups queued after it run.
  void suppress(suppression s, std::function<void(std::string error)> done = {});

  // For metrics and tests.
  bool healthy() const;                      // the last round trip succeeded
  std::uint64_t statements() const;          // statements sent (one per batch that needs PG)
  std::uint64_t batches() const;             // look-up batches answered
  std::uint64_t template_cache_hits() const; // templates resolved without asking PostgreSQL
  std::uint64_t template_cache_misses() const;
  std::uint64_t signature_cache_hits() const;
  std::size_t pending() const; // look-ups and writes queued or in the batch being run

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace iaposte::store
