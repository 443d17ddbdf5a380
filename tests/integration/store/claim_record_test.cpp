// Claims and records on real PostgreSQL: idempotency answers, rows, history, group commit.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "pg.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_store_claim_record_test {

using namespace iaposte;
using namespace iaposte::testing;
using kind = decltype(store::claim_result::kind); // the member hides the type name

namespace {

struct started_store {
  test_database db;
  store::store s{store_config_for(db)};
  explicit started_store(bool start = true) {
    s.migrate();
    if (start) s.start();
  }
};

core::smtp_reply_info reply(int code, std::string enhanced, std::string text) {
  return {code, std::move(enhanced), std::move(text)};
}

} // namespace

TEST_CASE("PostgreSQL: a claim is fresh first, resumed while not terminal, terminal once sent") {
  started_store t;
  auto first = claim_now(t.s, "acme", "r-1");
  CHECK(first.kind == kind::fresh);
  CHECK(first.state == "accepted");
  CHECK(first.attempts == 0);
  CHECK(first.message_id == "<r-1@test>");

  auto again = claim_now(t.s, "acme", "r-1");
  CHECK(again.kind == kind::resumed);
  CHECK(again.state == "accepted");

  auto deferred = event("acme", "r-1", core::status::deferred, 1);
  deferred.smtp = reply(451, "4.7.1", "greylisted");
  record_now(t.s, deferred);
  auto after_deferred = claim_now(t.s, "acme", "r-1");
  CHECK(after_deferred.kind == kind::resumed);
  CHECK(after_deferred.state == "deferred");
  CHECK(after_deferred.attempts == 1);
  CHECK(after_deferred.message_id == "<r-1@test>"); // reused when resuming

  auto sent = event("acme", "r-1", core::status::sent, 2);
  sent.smtp = reply(250, "2.0.0", "queued as ABC");
  record_now(t.s, sent);
  auto after_sent = claim_now(t.s, "acme", "r-1");
  CHECK(after_sent.kind == kind::terminal);
  CHECK(after_sent.state == "sent");
  CHECK(after_sent.attempts == 2);

  // Same request_id, other tenant: another request.
  CHECK(claim_now(t.s, "other", "r-1").kind == kind::fresh);
  CHECK(t.db.count("SELECT claims FROM messages WHERE tenant = 'acme'") == 4);
  CHECK(t.s.healthy());
}

TEST_CASE("PostgreSQL: a claim asked to record `accepted` writes it once, when it inserts the "
          "row") {
  started_store t;
  auto req = [](const std::string& id, bool accepted) {
    store::claim_request r;
    r.tenant = "acme";
    r.request_id = id;
    r.message_id = "<" + id + "@test>";
    r.record_accepted = accepted;
    return r;
  };
  CHECK(claim_now(t.s, req("a-1", true)).kind == kind::fresh);
  CHECK(claim_now(t.s, req("a-1", true)).kind == kind::resumed); // not inserted: no event
  CHECK(claim_now(t.s, req("a-2", false)).kind == kind::fresh);
  CHECK(t.db.count("SELECT count(*) FROM messages, jsonb_array_elements(history) e "
                   "WHERE request_id = 'a-1' AND e ->> 'status' = 'accepted' "
                   "AND (e ->> 'attempt')::integer = 0") == 1);
  CHECK(t.db.count("SELECT jsonb_array_length(history) FROM messages WHERE request_id = 'a-2'") ==
        0);
  // The history then goes on from it, in order.
  record_now(t.s, event("acme", "a-1", core::status::sent, 1));
  const auto h = t.s.history("acme", "a-1");
  REQUIRE(h.size() == 2);
  CHECK(h[0].status == core::status::accepted);
  CHECK(h[0].message_id == "<a-1@test>"); // the row's, left out of the event
  CHECK(h[1].status == core::status::sent);
}

TEST_CASE("PostgreSQL: one request claimed twice in one batch answers fresh, then resumed") {
  started_store t(false);
  std::vector<store::claim_result> results;
  completions done;
  for (int i = 0; i < 2; ++i)
    t.s.claim({"acme", "twice", "", "", "", 1, ""}, [&](store::claim_result r) {
      results.push_back(std::move(r)); // store thread only: done runs there, in queue order
      done.add();
    });
  t.s.start();
  REQUIRE(done.wait_for(2, 10s));
  CHECK(t.s.transactions() == 1);
  CHECK(results[0].kind == kind::fresh);
  CHECK(results[1].kind == kind::resumed);
  CHECK(results[1].state == "accepted");
  CHECK(t.db.count("SELECT count(*) FROM messages") == 1);
  CHECK(t.db.count("SELECT claims FROM messages") == 2);
}

TEST_CASE("PostgreSQL: a claim queued behind the record of the same request sees it terminal") {
  started_store t(false);
  std::vector<store::claim_result> results;
  completions done;
  auto on_claim = [&](store::claim_result r) {
    results.push_back(std::move(r));
    done.add();
  };
  t.s.claim({"acme", "redelivered", "", "", "", 1, ""}, on_claim);
  t.s.record(event("acme", "redelivered", core::status::sent, 1), [&] { done.add(); });
  t.s.claim({"acme", "redelivered", "", "", "", 1, ""}, on_claim);
  t.s.start();
  REQUIRE(done.wait_for(3, 10s));
  REQUIRE(results.size() == 2);
  CHECK(results[0].kind == kind::fresh);
  CHECK(results[1].kind == kind::terminal);
  CHECK(results[1].state == "sent");
  CHECK(t.s.transactions() == 2); // the batch was cut before the second claim
}

TEST_CASE("PostgreSQL: deferred then sent in one batch leaves the row sent after 2 attempts, with "
          "both events") {
  started_store t;
  claim_now(t.s, "acme", "r-2");
  t.s.stop();

  store::store s(store_config_for(t.db));
  const auto at1 = core::clock::time_point{std::chrono::microseconds{1'764'090'564'123'456}};
  const auto retry_at = at1 + 60s;
  auto deferred = event("acme", "r-2", core::status::deferred, 1);
  deferred.smtp = reply(451, "4.7.1", "greylisted");
  deferred.reason = "greylisted";
  deferred.next_attempt_at = retry_at;
  deferred.at = at1;
  auto sent = event("acme", "r-2", core::status::sent, 2);
  sent.smtp = reply(250, "2.0.0", "queued as ABC");
  sent.message_id = "<r-2@test>";
  sent.at = retry_at + 1s;
  completions done;
  s.record(deferred, [&] { done.add(); });
  s.record(sent, [&] { done.add(); });
  s.start();
  REQUIRE(done.wait_for(2, 10s));
  CHECK(s.transactions() == 1);

  const auto row = s.find("acme", "r-2");
  REQUIRE(row);
  CHECK(row->state == "sent");
  CHECK(row->attempts == 2);
  CHECK(row->last_code == 250);
  CHECK(row->last_reply == "queued as ABC");
  CHECK(row->message_id == "<r-2@test>");
  CHECK(t.db.count("SELECT count(*) FROM messages WHERE next_attempt_at IS NULL AND reason IS "
                   "NULL AND lease_until IS NULL") == 1);

  const auto h = s.history("acme", "r-2");
  REQUIRE(h.size() == 2);
  CHECK(h[0].status == core::status::deferred);
  CHECK(h[0].attempt == 1);
  REQUIRE(h[0].smtp);
  CHECK(h[0].smtp->code == 451);
  CHECK(h[0].smtp->enhanced == "4.7.1");
  CHECK(h[0].reason == "greylisted");
  CHECK(h[0].at == at1); // microsecond precision survives the round trip
  REQUIRE(h[0].next_attempt_at);
  CHECK(*h[0].next_attempt_at == retry_at);
  CHECK(h[1].status == core::status::sent);
  CHECK(h[1].attempt == 2);
  CHECK_FALSE(h[1].next_attempt_at);
  CHECK_FALSE(s.find("acme", "unknown"));
  CHECK(s.history("acme", "unknown").empty());
}

TEST_CASE("PostgreSQL: a duplicate after sent is recorded but the message stays sent") {
  started_store t;
  claim_now(t.s, "acme", "r-3");
  auto sent = event("acme", "r-3", core::status::sent, 1);
  sent.smtp = reply(250, "2.0.0", "ok");
  record_now(t.s, sent);
  auto dup = event("acme", "r-3", core::status::duplicate, 0);
  dup.reason = "already sent";
  record_now(t.s, dup);

  const auto row = t.s.find("acme", "r-3");
  REQUIRE(row);
  CHECK(row->state == "sent");
  CHECK(row->attempts == 1);
  CHECK(row->last_code == 250);
  const auto h = t.s.history("acme", "r-3");
  REQUIRE(h.size() == 2);
  CHECK(h[1].status == core::status::duplicate);
  CHECK(claim_now(t.s, "acme", "r-3").state == "sent");

  SUBCASE("and in the same batch as the sent") {
    store::store s(store_config_for(t.db));
    completions done;
    s.record(event("acme", "r-4", core::status::sent, 1), [&] { done.add(); });
    s.record(event("acme", "r-4", core::status::duplicate), [&] { done.add(); });
    s.start();
    REQUIRE(done.wait_for(2, 10s));
    CHECK(s.find("acme", "r-4")->state == "sent");
    CHECK(s.history("acme", "r-4").size() == 2);
  }
  SUBCASE("a duplicate of a request still in progress ends it as duplicate") {
    claim_now(t.s, "acme", "r-5");
    record_now(t.s, event("acme", "r-5", core::status::duplicate));
    CHECK(t.s.find("acme", "r-5")->state == "duplicate");
  }
}

TEST_CASE("PostgreSQL: the history in the row: an event recorded again (a batch retried after a "
          "lost commit) is there once; at most 64 events, the first and the newest 63") {
  started_store t;
  claim_now(t.s, "acme", "h-1");
  auto deferred = event("acme", "h-1", core::status::deferred, 1);
  deferred.smtp = reply(451, "4.7.1", "greylisted");
  deferred.next_attempt_at = deferred.at + 30s;
  record_now(t.s, deferred);
  record_now(t.s, deferred); // the same record: what a retried batch writes
  auto h = t.s.history("acme", "h-1");
  REQUIRE(h.size() == 1);
  REQUIRE(h[0].next_attempt_at);
  CHECK(std::chrono::abs(*h[0].next_attempt_at - *deferred.next_attempt_at) < 1us);
  CHECK(std::chrono::abs(h[0].at - deferred.at) < 1us);
  auto later = deferred; // another attempt's deferral is another event
  later.attempt = 2;
  record_now(t.s, later);
  CHECK(t.s.history("acme", "h-1").size() == 2);

  auto first = event("acme", "h-2", core::status::accepted, 0);
  record_now(t.s, first);
  for (int i = 1; i <= 70; ++i)
    record_now(t.s, event("acme", "h-2", core::status::deferred, i));
  h = t.s.history("acme", "h-2");
  REQUIRE(h.size() == 64);
  CHECK(h[0].status == core::status::accepted);
  CHECK(h[1].attempt == 8);
  CHECK(h[63].attempt == 70);
  CHECK(t.s.find("acme", "h-2")->attempts == 70);
}

TEST_CASE("PostgreSQL: recording a rejected request that was never claimed creates its row") {
  started_store t;
  auto rejected = event("acme", "bad-1", core::status::rejected);
  rejected.reason = "missing field: to";
  record_now(t.s, rejected);
  const auto row = t.s.find("acme", "bad-1");
  REQUIRE(row);
  CHECK(row->state == "rejected");
  CHECK(row->attempts == 0);
  CHECK(t.db.count("SELECT count(*) FROM messages WHERE reason = 'missing field: to'") == 1);
  const auto c = claim_now(t.s, "acme", "bad-1");
  CHECK(c.kind == kind::terminal);
  CHECK(c.state == "rejected");
}

TEST_CASE("PostgreSQL: text with NUL bytes and invalid UTF-8 is stored, not fatal") {
  started_store t;
  auto ev = event("acme", "odd-text", core::status::bounced, 1);
  const char raw[] = "no such\0 user \xff\xfe";
  ev.smtp = reply(550, "5.1.1", std::string(raw, sizeof raw - 1));
  record_now(t.s, ev);
  const auto row = t.s.find("acme", "odd-text");
  REQUIRE(row);
  CHECK(row->state == "bounced");
  CHECK(row->last_reply.rfind("no such user ", 0) == 0);
  // Keys too (validation should have refused them; the store must not stall on them).
  CHECK(claim_now(t.s, "acme", std::string(raw, sizeof raw - 1)).kind == kind::fresh);
  CHECK(claim_now(t.s, "acme", std::string(raw, sizeof raw - 1)).kind == kind::resumed);
  CHECK(t.s.parked() == 0);
}

TEST_CASE("PostgreSQL: on a new, unanalysed table the batches look requests up by index, never by "
          "scanning messages") {
  started_store t;
  // 40 batches of 50 claims, then of 50 records: each one a join between its input and a
  // table that grows from 0 to 2,000 rows, the case where the planner picks seq scans.
  constexpr int batches = 40, per = 50;
  for (int b = 0; b < batches; ++b) {
    completions done;
    for (int i = 0; i < per; ++i)
      t.s.claim({"plan", "p-" + std::to_string(b * per + i), "<p@test>", "s@example.com", "hi", 1,
                 "iaposte.requests/0@1"},
                [&](store::claim_result) { done.add(); });
    REQUIRE(done.wait_for(per, 10s));
    completions recorded;
    for (int i = 0; i < per; ++i)
      t.s.record(event("plan", "p-" + std::to_string(b * per + i), core::status::sent, 1),
                 [&] { recorded.add(); });
    REQUIRE(recorded.wait_for(per, 10s));
  }
  // The store's backend reports its counters when it goes idle (within a second or so).
  auto scans = [&] {
    return t.db.count("SELECT coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = "
                      "'messages'");
  };
  REQUIRE(eventually([&] { return scans() >= batches * per; }, 15s));
  CHECK(t.db.count("SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables WHERE relname = "
                   "'messages'") < 100);
}

TEST_CASE("PostgreSQL: 5,000 claims and 5,000 records queued at once commit in few transactions") {
  started_store t(false);
  constexpr int n = 5000;
  completions done;
  for (int i = 0; i < n; ++i)
    t.s.claim({"bulk", "r-" + std::to_string(i), "<" + std::to_string(i) + "@test>",
               "s@example.com", "hello", 1, "iaposte.requests/0@" + std::to_string(i)},
              [&](store::claim_result r) {
                if (r.kind == kind::fresh) done.add();
              });
  for (int i = 0; i < n; ++i) {
    auto ev = event("bulk", "r-" + std::to_string(i), core::status::sent, 1);
    ev.smtp = reply(250, "2.0.0", "ok");
    t.s.record(std::move(ev), [&] { done.add(); });
  }
  CHECK(t.s.pending() == 2 * n);
  const auto started = std::chrono::steady_clock::now();
  t.s.start();
  REQUIRE(done.wait_for(2 * n, 60s));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  MESSAGE("10,000 operations in "
          << t.s.transactions() << " transactions, "
          << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");
  CHECK(t.s.transactions() <= 2 * n / 512 + 2); // batch_max = 512
  CHECK(t.db.count("SELECT count(*) FROM messages WHERE state = 'sent' AND attempts = 1") == n);
  CHECK(t.db.count("SELECT sum(jsonb_array_length(history)) FROM messages") == n);
  CHECK(eventually([&] { return t.s.pending() == 0; }, 5s));
}

TEST_CASE("PostgreSQL: two instances claiming the same requests at once: each is fresh exactly "
          "once, busy for the other") {
  test_database db;
  constexpr int n = 500;
  std::vector<std::unique_ptr<store::store>> stores;
  completions done, fresh, busy;
  for (int k = 0; k < 2; ++k) {
    auto cfg = store_config_for(db);
    cfg.owner = "instance-" + std::to_string(k);
    cfg.batch_max = 64; // many interleaved transactions
    stores.push_back(std::make_unique<store::store>(cfg));
    stores.back()->migrate();
    for (int i = 0; i < n; ++i)
      stores.back()->claim(
          {"race", "r-" + std::to_string(k == 0 ? i : n - 1 - i), "", "", "", 1, ""},
          [&](store::claim_result r) {
            if (r.kind == kind::fresh) fresh.add();
            if (r.kind == kind::busy) busy.add(); // the other holds the lease: never both go
            done.add();
          });
  }
  for (auto& s : stores)
    s->start();
  REQUIRE(done.wait_for(2 * n, 30s));
  CHECK(fresh.count() == n);
  CHECK(busy.count() == n);
  CHECK(db.count("SELECT count(*) FROM messages WHERE claims = 2") == n);
}

} // namespace test_integration_store_claim_record_test
