// Decides, from one attempt's verdict, whether a request is sent, bounced, retried or failed.
#include "worker/after_attempt.hpp"

namespace iaposte::worker {

namespace {

core::smtp_reply_info info_of(const smtp::reply& r) {
  return {r.code, r.enhanced, r.text()};
}

void append(std::string& list, const std::string& item) {
  if (!list.empty()) list += "; ";
  list += item;
}

} // namespace

std::string recipient_line(const smtp::recipient_result& r) {
  const smtp::reply& l = r.last;
  std::string why = l.code ? std::to_string(l.code) : std::string();
  if (!l.enhanced.empty()) why += (why.empty() ? "" : " ") + l.enhanced;
  return r.address + " (" + (why.empty() ? "no reply" : why) + ")";
}

decision after_attempt(const smtp::verdict& v, progress& p, const attempt_limits& lim) {
  decision d;
  for (const auto& b : v.bounced)
    append(p.undelivered, recipient_line(b));
  p.delivered += v.delivered.size();
  const bool some_now = !v.delivered.empty();
  const std::string error = v.decided.error.empty() ? v.decided.last.text() : v.decided.error;

  if (v.retry.empty()) {
    d.reply = info_of(v.decided.last);
    if (p.delivered > 0) {
      d.step = next_step::sent;
      if (!p.undelivered.empty()) d.reason = "not delivered to: " + p.undelivered;
    } else {
      d.step = next_step::bounced;
      d.reason = error;
    }
    return d;
  }

  std::string why;
  if (some_now) {
    // Some recipients took it this time: the reply the event shows is a deferred one's.
    std::string deferred;
    for (const auto& r : v.retry)
      append(deferred, recipient_line(r));
    why = "delivered to " + std::to_string(p.delivered) + " recipient(s), deferred for " + deferred;
    d.reply = info_of(v.retry.back().last);
  } else {
    why = error;
    d.reply = info_of(v.decided.last);
  }
  if (lim.attempt >= lim.max_attempts || lim.next_too_late) {
    d.step = next_step::failed;
    d.reason = (lim.next_too_late
                    ? std::string("expired before the next attempt; last error: ")
                    : "gave up after " + std::to_string(lim.attempt) + " attempts; last error: ") +
               why;
    return d;
  }
  d.step = next_step::retry;
  d.reason = std::move(why);
  d.retry_to.reserve(v.retry.size());
  for (const auto& r : v.retry)
    d.retry_to.push_back(r.address);
  return d;
}

} // namespace iaposte::worker
