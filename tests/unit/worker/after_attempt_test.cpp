// The worker's decision after one attempt, as a table: the dispatcher's verdict and what the
// earlier attempts settled in; the step, the event's reply and reason, the next recipients out.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "smtp/outcome.hpp"
#include "worker/after_attempt.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_worker_after_attempt_test {

using namespace iaposte;
using namespace iaposte::worker;
using smtp::outcome_kind;
using smtp::phase;
using smtp::reply;

smtp::recipient_result rcpt(std::string address, outcome_kind k, reply r) {
  return {std::move(address), k, std::move(r)};
}

const reply ok{250, "2.0.0", {"queued"}};
const reply no_user{550, "5.1.1", {"no such user"}};
const reply grey{450, "4.2.0", {"greylisted"}};

// A verdict as smtp::judge() makes it: every recipient in one list, `decided` the message's.
smtp::verdict verdict_of(std::vector<smtp::recipient_result> rs, smtp::outcome decided) {
  smtp::verdict v;
  for (auto& r : rs) {
    if (r.kind == outcome_kind::sent)
      v.delivered.push_back(r.address);
    else if (r.kind == outcome_kind::permanent)
      v.bounced.push_back(r);
    else
      v.retry.push_back(r);
  }
  v.decided = std::move(decided);
  return v;
}

attempt_limits limits(int attempt, int max, bool too_late = false) {
  attempt_limits l;
  l.attempt = attempt;
  l.max_attempts = max;
  l.next_too_late = too_late;
  return l;
}

struct row {
  const char* name;
  smtp::verdict v;
  progress before;
  attempt_limits lim;
  // expected
  next_step step;
  int reply_code;
  std::string reason;
  std::vector<std::string> retry_to;
  std::size_t delivered_after;
  std::string undelivered_after;
};

std::vector<row> table() {
  const auto refused =
      smtp::classify::local_transient("connect 192.0.2.1:25: refused", phase::connect);
  const auto bounced = smtp::classify::rejected(phase::rcpt, no_user);
  const auto deferred = smtp::classify::rejected(phase::rcpt, grey);
  const auto sent = smtp::classify::sent(ok);
  std::vector<row> t;
  t.push_back(
      {"every recipient has it",
       verdict_of({rcpt("a@x", outcome_kind::sent, ok), rcpt("b@x", outcome_kind::sent, ok)}, sent),
       {},
       limits(1, 5),
       next_step::sent,
       250,
       "",
       {},
       2,
       ""});
  t.push_back({"every recipient refused for good: bounced with the message's error",
               verdict_of({rcpt("a@x", outcome_kind::permanent, no_user)}, bounced),
               {},
               limits(1, 5),
               next_step::bounced,
               550,
               "RCPT rejected: 550 no such user",
               {},
               0,
               "a@x (550 5.1.1)"});
  t.push_back({"nobody reached, attempts left: retried, all of them",
               verdict_of({rcpt("a@x", outcome_kind::transient, {}),
                           rcpt("b@y", outcome_kind::transient, {})},
                          refused),
               {},
               limits(1, 5),
               next_step::retry,
               0,
               "connect 192.0.2.1:25: refused",
               {"a@x", "b@y"},
               0,
               ""});
  t.push_back({"nobody reached on the last attempt: failed",
               verdict_of({rcpt("a@x", outcome_kind::transient, {})}, refused),
               {},
               limits(5, 5),
               next_step::failed,
               0,
               "gave up after 5 attempts; last error: connect 192.0.2.1:25: refused",
               {},
               0,
               ""});
  t.push_back({"nobody reached, the next attempt past the deadline: failed, expired",
               verdict_of({rcpt("a@x", outcome_kind::transient, {})}, refused),
               {},
               limits(2, 5, true),
               next_step::failed,
               0,
               "expired before the next attempt; last error: connect 192.0.2.1:25: refused",
               {},
               0,
               ""});
  t.push_back({"partial: one has it, one bounced, one greylisted: only that one is retried",
               verdict_of({rcpt("a@x", outcome_kind::sent, ok),
                           rcpt("b@x", outcome_kind::permanent, no_user),
                           rcpt("c@x", outcome_kind::transient, grey)},
                          sent),
               {},
               limits(1, 5),
               next_step::retry,
               450,
               "delivered to 1 recipient(s), deferred for c@x (450 4.2.0)",
               {"c@x"},
               1,
               "b@x (550 5.1.1)"});
  t.push_back({"the retried one bounces: sent, naming both refused",
               verdict_of({rcpt("c@x", outcome_kind::permanent, no_user)}, bounced),
               progress{1, "b@x (550 5.1.1)"},
               limits(2, 5),
               next_step::sent,
               550,
               "not delivered to: b@x (550 5.1.1); c@x (550 5.1.1)",
               {},
               1,
               "b@x (550 5.1.1); c@x (550 5.1.1)"});
  t.push_back({"the retried one gets it: sent, naming the earlier bounce",
               verdict_of({rcpt("c@x", outcome_kind::sent, ok)}, sent),
               progress{1, "b@x (550 5.1.1)"},
               limits(2, 5),
               next_step::sent,
               250,
               "not delivered to: b@x (550 5.1.1)",
               {},
               2,
               "b@x (550 5.1.1)"});
  t.push_back({"the retried one is deferred again, nobody new has it: the message's error",
               verdict_of({rcpt("c@x", outcome_kind::transient, grey)}, deferred),
               progress{1, "b@x (550 5.1.1)"},
               limits(2, 5),
               next_step::retry,
               450,
               "RCPT deferred: 450 greylisted",
               {"c@x"},
               1,
               "b@x (550 5.1.1)"});
  t.push_back({"the retried one is still deferred on the last attempt: failed though some have it",
               verdict_of({rcpt("c@x", outcome_kind::transient, grey)}, deferred),
               progress{1, ""},
               limits(3, 3),
               next_step::failed,
               450,
               "gave up after 3 attempts; last error: RCPT deferred: 450 greylisted",
               {},
               1,
               ""});
  t.push_back({"one has it, the other bounced at once: sent, naming the bounce",
               verdict_of({rcpt("a@x", outcome_kind::sent, ok),
                           rcpt("b@y", outcome_kind::permanent, reply{553, "", {"bad"}})},
                          sent),
               {},
               limits(1, 5),
               next_step::sent,
               250,
               "not delivered to: b@y (553)",
               {},
               1,
               "b@y (553)"});
  smtp::outcome quiet = bounced;
  quiet.error.clear(); // no local description: the reply's text is the reason
  t.push_back({"a refusal without a description: the reply's text",
               verdict_of({rcpt("a@x", outcome_kind::permanent, no_user)}, quiet),
               {},
               limits(1, 5),
               next_step::bounced,
               550,
               "no such user",
               {},
               0,
               "a@x (550 5.1.1)"});
  return t;
}

TEST_CASE("after an attempt: sent, bounced, retried or failed, by the table") {
  for (auto& r : table()) {
    CAPTURE(r.name);
    progress p = r.before;
    decision d = after_attempt(r.v, p, r.lim);
    CHECK(d.step == r.step);
    CHECK(d.reply.code == r.reply_code);
    CHECK(d.reason == r.reason);
    CHECK(d.retry_to == r.retry_to);
    CHECK(p.delivered == r.delivered_after);
    CHECK(p.undelivered == r.undelivered_after);
  }
}

TEST_CASE("the verdict judge() makes from a dispatch: a domain that failed before RCPT lends "
          "its outcome to each of its recipients") {
  smtp::dispatch_result res;
  auto sent = smtp::classify::sent(ok);
  sent.recipients = {rcpt("a@x", outcome_kind::sent, ok),
                     rcpt("b@x", outcome_kind::permanent, no_user)};
  res.domains.push_back({"x", {"a@x", "b@x"}, sent, "mx.x[192.0.2.1]"});
  res.domains.push_back(
      {"y", {"c@y", "d@y"}, smtp::classify::timeout_reading(phase::greeting), "mx.y[192.0.2.2]"});
  auto v = smtp::judge(res);
  CHECK(v.delivered == std::vector<std::string>{"a@x"});
  REQUIRE(v.bounced.size() == 1);
  CHECK(v.bounced[0].address == "b@x");
  REQUIRE(v.retry.size() == 2);
  CHECK(v.retry[0].address == "c@y");
  CHECK(v.retry[1].address == "d@y");
  CHECK(v.decided.kind == outcome_kind::sent);
  progress p;
  auto d = after_attempt(v, p, limits(1, 5));
  CHECK(d.step == next_step::retry);
  CHECK(d.retry_to == std::vector<std::string>{"c@y", "d@y"});
  CHECK(d.reason == "delivered to 1 recipient(s), deferred for c@y (no reply); d@y (no reply)");
  CHECK(p.undelivered == "b@x (550 5.1.1)");
}

TEST_CASE("a recipient line names the reply, the enhanced code alone, or no reply") {
  CHECK(recipient_line(rcpt("a@x", outcome_kind::permanent, no_user)) == "a@x (550 5.1.1)");
  CHECK(recipient_line(rcpt("a@x", outcome_kind::permanent, reply{553, "", {}})) == "a@x (553)");
  CHECK(recipient_line(rcpt("a@x", outcome_kind::permanent, reply{0, "5.6.7", {}})) ==
        "a@x (5.6.7)");
  CHECK(recipient_line(rcpt("a@x", outcome_kind::transient, {})) == "a@x (no reply)");
}

TEST_CASE("a dispatch where every domain failed: the first transient one decides the message") {
  smtp::dispatch_result res;
  res.domains.push_back(
      {"x", {"a@x"}, smtp::classify::local_permanent("DNS: no MX", phase::resolve), ""});
  res.domains.push_back(
      {"y", {"b@y"}, smtp::classify::local_transient("DNS: timeout", phase::resolve), ""});
  auto v = smtp::judge(res);
  CHECK(v.decided.kind == outcome_kind::transient);
  CHECK(v.decided.error == "DNS: timeout");
  progress p;
  auto d = after_attempt(v, p, limits(1, 5));
  CHECK(d.step == next_step::retry);
  CHECK(d.retry_to == std::vector<std::string>{"b@y"});
  CHECK(p.undelivered == "a@x (no reply)");
  // b@y bounces next time: nobody ever had it, so bounced, not sent.
  smtp::dispatch_result again;
  again.domains.push_back(
      {"y", {"b@y"}, smtp::classify::local_permanent("DNS: no MX", phase::resolve), ""});
  d = after_attempt(smtp::judge(again), p, limits(2, 5));
  CHECK(d.step == next_step::bounced);
  CHECK(d.reason == "DNS: no MX");
}

} // namespace test_unit_worker_after_attempt_test
