// Decides a mail transaction from its replies: which recipients were taken, whether the body
// goes, and the message's outcome.
#include "smtp/transaction.hpp"

#include "smtp/outcome.hpp"

namespace iaposte::smtp::transaction {

namespace {

// 4xx and 5xx leave the server in a known state (RFC 5321 §4.1.4), except 421 (§3.8: closing).
bool known_refusal(const reply& r) {
  return (r.transient() || r.permanent()) && r.code != 421;
}

outcome_kind kind_of(const reply& r) {
  return r.permanent() ? outcome_kind::permanent : outcome_kind::transient;
}

} // namespace

verdict judge(const reply& mail, std::span<const reply> rcpts, const reply* data,
              std::span<const std::string> addresses, std::vector<recipient_result>& recipients) {
  verdict v;
  recipients.clear();
  recipients.reserve(addresses.size());
  bool any_421 = mail.closing() || (data && data->closing());
  for (const auto& r : rcpts)
    any_421 = any_421 || r.closing();

  if (!mail.completion()) {
    // Every recipient shares the MAIL refusal (settle() fills them in); with PIPELINING the
    // server has also answered the RCPTs (503 "need MAIL") and DATA.
    v.result = classify::rejected(phase::mail, mail);
    if (any_421 || !known_refusal(mail))
      v.action = next::close;
    else if (data && data->code == 354)
      v.action = next::lone_dot;
    else
      v.action = next::rset;
    return v;
  }

  const reply* first_transient = nullptr;
  const reply* first_permanent = nullptr;
  for (std::size_t i = 0; i < rcpts.size() && i < addresses.size(); ++i) {
    const reply& r = rcpts[i];
    if (r.completion()) {
      // Its reply is the message's, set by settle(): no copy of the RCPT reply here.
      recipients.push_back({addresses[i], outcome_kind::sent, reply{}});
      ++v.accepted;
      continue;
    }
    if (!known_refusal(r)) { // 421, or a 3xx/2xx-like reply out of sequence
      v.result = classify::rejected(phase::rcpt, r);
      v.action = next::close;
      return v;
    }
    recipients.push_back({addresses[i], kind_of(r), r});
    if (r.transient() && !first_transient) first_transient = &r;
    if (r.permanent() && !first_permanent) first_permanent = &r;
  }
  if (rcpts.size() < addresses.size()) { // the conversation stopped early (421 at DATA...)
    v.result =
        classify::local_transient("connection ended before every RCPT was answered", phase::rcpt);
    v.action = next::close;
    return v;
  }

  if (v.accepted == 0) {
    // Nobody to deliver to: any 4xx defers the message (a later try may reach them), else it
    // bounces with the first 5xx.
    if (first_transient || first_permanent)
      v.result =
          classify::rejected(phase::rcpt, first_transient ? *first_transient : *first_permanent);
    else
      v.result = classify::local_permanent("no recipients", phase::rcpt);
    if (any_421)
      v.action = next::close;
    else if (data && data->code == 354)
      v.action = next::lone_dot; // RFC 2920 §3.1: the server must get its end of data
    else if (data && !known_refusal(*data))
      v.action = next::close;
    else
      v.action = next::rset;
    return v;
  }

  if (!data) {
    v.action = next::send_data;
    return v;
  }
  if (data->code == 354) {
    v.action = next::send_body;
    return v;
  }
  v.result = classify::rejected(phase::data, *data);
  v.action = known_refusal(*data) ? next::rset : next::close;
  return v;
}

void settle(outcome& o, std::span<const std::string> addresses) {
  for (auto& r : o.recipients)
    if (r.kind == outcome_kind::sent) {
      r.kind = o.kind;
      r.last = o.last;
    }
  for (std::size_t i = o.recipients.size(); i < addresses.size(); ++i)
    o.recipients.push_back({addresses[i], o.kind, o.last});
}

} // namespace iaposte::smtp::transaction
