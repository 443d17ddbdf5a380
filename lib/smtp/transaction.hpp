// Matches the replies of one mail transaction to its commands and decides what comes next;
// pure, no I/O (internal to lib/smtp; Postfix's smtp_proto.c reply matching, smtp_rcpt.c).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "smtp/client.hpp"

namespace iaposte::smtp::transaction {

enum class next {
  send_data, // MAIL and at least one RCPT accepted, DATA not sent yet (no pipelining)
  send_body, // 354 with at least one recipient accepted
  lone_dot,  // 354 but nobody to deliver to: "." alone ends the transaction (RFC 2920 §3.1)
  rset,      // the transaction failed in a known state: RSET, keep the connection
  close,     // 421 or a reply out of sequence: drop the connection
};

struct verdict {
  next action = next::close;
  std::optional<outcome> result; // the message's outcome when decided before the body
  std::size_t accepted = 0;      // recipients accepted at RCPT
};

// `mail`: the reply to MAIL. `rcpts`: the replies to RCPT read so far, in envelope order (with
// PIPELINING all of them, even after MAIL was refused; fewer than `addresses` only after a
// 421). `data`: the reply to DATA once read, else null.
// `recipients` is rebuilt: one entry per RCPT reply that decided its recipient, the accepted
// ones provisionally `sent` with an empty reply (settle() gives them the message's fate).
verdict judge(const reply& mail, std::span<const reply> rcpts, const reply* data,
              std::span<const std::string> addresses, std::vector<recipient_result>& recipients);

// Completes o.recipients once the message's outcome is known: recipients accepted at RCPT take
// the message's kind and reply; those without a result yet (the conversation ended before their
// RCPT reply, or nothing was sent) are appended with the message's kind and reply.
void settle(outcome& o, std::span<const std::string> addresses);

} // namespace iaposte::smtp::transaction
