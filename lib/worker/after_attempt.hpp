// What happens after one delivery attempt: a pure function of the dispatcher's verdict and of
// what the request's earlier attempts settled (tests/unit/worker/after_attempt_test.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/status.hpp"
#include "smtp/dispatch.hpp"

namespace iaposte::worker {

// What the attempts of one request have settled so far, carried from one to the next.
struct progress {
  std::size_t delivered = 0; // recipients that have the message
  std::string undelivered;   // "addr (550 5.1.1); ..." refused for good
};

enum class next_step {
  sent,    // terminal: every recipient has it or was refused for good, at least one has it
  bounced, // terminal: every recipient was refused for good, none has it
  retry,   // deferred: the recipients refused for now get another attempt after the backoff
  failed,  // terminal: refused for now, and no attempt is left (count or deadline)
};

struct attempt_limits {
  int attempt = 1;            // this attempt's number, from 1
  int max_attempts = 1;       // backoff.max_attempts
  bool next_too_late = false; // the next attempt, after its backoff, would be past the deadline
};

struct decision {
  next_step step = next_step::failed;
  core::smtp_reply_info reply;       // what the status event carries
  std::string reason;                // the event's reason; empty for a plain `sent`
  std::vector<std::string> retry_to; // next_step::retry: the next attempt's recipients
};

// Adds this attempt's refusals for good to `p` and decides. Reasons:
//   sent     "not delivered to: a@x (550 5.1.1); ..." when some recipient bounced, else empty;
//   bounced  the message's error (or the reply's text);
//   retry    the message's error, or "delivered to N recipient(s), deferred for a@x (450 ...)"
//            when some have it;
//   failed   "gave up after N attempts; last error: ..." or "expired before the next
//            attempt; last error: ...".
decision after_attempt(const smtp::verdict& v, progress& p, const attempt_limits& lim);

// "a@x (550 5.1.1)": a recipient and the reply that decided it ("a@x (5.1.3)" when decided
// here, "a@x (no reply)" after a connection failure).
std::string recipient_line(const smtp::recipient_result& r);

} // namespace iaposte::worker
