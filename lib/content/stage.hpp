// The content stage: a request and what the store holds for it (template, contacts,
// signature) → the finished, signed message bytes, or why the request must be rejected.
// render → (the worker's AI personalisation) → finish (compose, List-Unsubscribe, DKIM).
// Pure and synchronous, no I/O: the worker runs it on a thread pool (DKIM RSA costs about a
// millisecond), and tests run it without the stack.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/request.hpp"
#include "dkim/dkim.hpp"
#include "mime/compose.hpp"
#include "store/content_lookup.hpp"

namespace iaposte::content {

// A DKIM key of a tenant ("*": every tenant) for a signing domain.
struct dkim_key {
  std::string tenant;
  dkim::key_config key;
};

// List-Unsubscribe and List-Unsubscribe-Post values for (tenant, recipient, list) (RFC 2369,
// RFC 8058), from the daemon's signed one-click links; the daemon wires lib/unsubscribe in.
using unsubscribe_fn = std::function<std::pair<std::string, std::string>(
    std::string_view tenant, std::string_view address, std::string_view list)>;

struct stage_config {
  core::limits limits;
  std::string message_id_domain; // empty: the sender's domain
  std::vector<dkim_key> dkim_keys;
  // Tenants whose inline Markdown may carry raw HTML ("*": all); a stored template has its
  // own allow_raw_html flag.
  std::set<std::string> raw_html_tenants;
  unsubscribe_fn unsubscribe;        // empty: marketing mail needs the request's own links
  std::size_t template_cache = 1000; // compiled template versions kept
};

// The content of one request before AI and composition.
struct draft {
  mime::content content;
  // Why the request must be rejected (content or contacts); empty when it can go on.
  std::string rejection;
  // The contact's fields and the request's scalar variables (the request wins), for the AI
  // prompt.
  std::map<std::string, std::string> contact;
  bool ok() const { return rejection.empty(); }
};

class stage {
public:
  // Loads the DKIM keys; throws dkim::error (a configuration error) on a bad one.
  explicit stage(stage_config cfg);
  ~stage();
  stage(const stage&) = delete;
  stage& operator=(const stage&) = delete;

  // What the store must be asked for this request (one batched look-up).
  static store::content_query query_for(const core::request& req);

  // The same Message-ID for every attempt of a request (mime::make_message_id).
  std::string message_id(const core::request& req) const;

  // Resolves the recipients given as contacts into addresses (in `req`), then renders the
  // stored template version or the inline content, and appends the sender's signature where
  // the template does not place it. Takes the request's attachments. Thread-safe.
  draft render(core::request& req, const store::content_answer& stored) const;

  // Composes the message (List-Unsubscribe for marketing mail) and signs it with the
  // tenant's keys for the From domain; `date` is the Date header and the signing time, so
  // that the bytes depend on the inputs only. A non-empty `rejection` instead of bytes when
  // the message cannot be made. Thread-safe.
  struct finished {
    std::string message, rejection;
  };
  finished finish(const core::request& req, const mime::content& content,
                  std::string_view message_id, core::clock::time_point date) const;

  // The DNS TXT records of the keys loaded (for the operator and the demo).
  std::vector<dkim::dns_record> dns_records() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace iaposte::content
