// The idempotent claim on real PostgreSQL: content stored with the claim, leases between
// instances (busy, expiry, release), and the published mark of terminal events.
#include <doctest/doctest.h>

#include <memory>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "pg.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_store_claim_lease_test {

using namespace iaposte;
using namespace iaposte::testing;
using kind = decltype(store::claim_result::kind); // the member hides the type name

namespace {

// Two instances of the daemon on one database.
struct two_instances {
  test_database db;
  std::unique_ptr<store::store> a, b;
  explicit two_instances(std::chrono::seconds lease = std::chrono::seconds{600}) {
    a = make("instance-a", lease);
    b = make("instance-b", lease);
    a->migrate();
    a->start();
    b->start();
  }
  std::unique_ptr<store::store> make(const std::string& owner, std::chrono::seconds lease) {
    auto cfg = store_config_for(db);
    cfg.owner = owner;
    cfg.lease = lease;
    return std::make_unique<store::store>(cfg);
  }
  std::string owner_of(const std::string& request_id) const {
    const auto r = db.query("SELECT coalesce(owner, '') FROM messages WHERE request_id = '" +
                            request_id + "'");
    return r[0][0].c_str();
  }
};

std::string mime(const std::string& date) {
  return "Message-ID: <r@test>\r\nDate: " + date +
         "\r\nSubject: hello\r\nMIME-Version: 1.0\r\n\r\nbody\r\n";
}

store::claim_request request(const std::string& request_id, std::string content) {
  store::claim_request req{"acme", request_id, "<" + request_id + "@test>", "", "", 1, ""};
  req.content = std::move(content);
  return req;
}

} // namespace

TEST_CASE("PostgreSQL: a fresh claim stores its content; later claims get the first content") {
  two_instances t;
  const std::string first = mime("Wed, 25 Nov 2026 17:09:24 +0000");
  const std::string second = mime("Wed, 25 Nov 2026 17:19:24 +0000");

  const auto fresh = claim_now(*t.a, "acme", "r-1", first);
  CHECK(fresh.kind == kind::fresh);
  CHECK(fresh.content == first);
  REQUIRE(fresh.lease_until);
  CHECK(*fresh.lease_until > core::clock::now() + std::chrono::seconds{590});
  CHECK(t.db.count("SELECT count(*) FROM messages WHERE content IS NOT NULL") == 1);

  const auto resumed = claim_now(*t.a, "acme", "r-1", second); // recomposed: another Date
  CHECK(resumed.kind == kind::resumed);
  CHECK(resumed.content == first);
  CHECK(claim_now(*t.a, "acme", "r-1").content == first); // no content passed: still returned

  SUBCASE("a row claimed without content takes the first content passed") {
    CHECK(claim_now(*t.a, "acme", "r-2").content.empty());
    CHECK(claim_now(*t.a, "acme", "r-2", second).content == second);
    CHECK(claim_now(*t.a, "acme", "r-2", first).content == second);
  }
  SUBCASE("two claims in one batch with different content both get the first one") {
    auto s = t.make("instance-a", std::chrono::seconds{600});
    std::vector<store::claim_result> results;
    completions done;
    for (const auto* c : {&first, &second})
      s->claim(request("r-3", *c), [&](store::claim_result r) {
        results.push_back(std::move(r)); // store thread only, in queue order
        done.add();
      });
    s->start();
    REQUIRE(done.wait_for(2, 10s));
    CHECK(s->transactions() == 1);
    CHECK(results[0].kind == kind::fresh);
    CHECK(results[1].kind == kind::resumed);
    CHECK(results[0].content == first);
    CHECK(results[1].content == first);
  }
}

TEST_CASE("PostgreSQL: a record carrying content stores it when the row has none; the next claim "
          "gets it") {
  two_instances t;
  const std::string first = mime("Wed, 25 Nov 2026 17:09:24 +0000");
  const std::string second = mime("Wed, 25 Nov 2026 17:19:24 +0000");
  REQUIRE(claim_now(*t.a, "acme", "r-1").kind == kind::fresh); // no content: none stored
  CHECK(t.db.count("SELECT count(*) FROM messages WHERE content IS NOT NULL") == 0);

  auto deferred = event("acme", "r-1", core::status::deferred, 1);
  deferred.content = first;
  record_now(*t.a, deferred);
  CHECK(t.db.count("SELECT count(*) FROM messages WHERE content IS NOT NULL") == 1);
  const auto resumed = claim_now(*t.a, "acme", "r-1"); // a redelivery, no content passed
  CHECK(resumed.kind == kind::resumed);
  CHECK(resumed.content == first);

  auto again = event("acme", "r-1", core::status::deferred, 2);
  again.content = second; // recomposed elsewhere: the first content stays
  record_now(*t.a, again);
  CHECK(claim_now(*t.a, "acme", "r-1", second).content == first);
  CHECK(t.a->history("acme", "r-1").size() == 2);
}

TEST_CASE("PostgreSQL: what produced the content (content_meta) is stored with it and comes back "
          "with it, first one wins") {
  two_instances t;
  const std::string content = mime("Wed, 25 Nov 2026 17:09:24 +0000");
  const std::string meta = R"({"provider":"fake","cached":false,"fallback":false})";

  // Claimed first without content (an AI request), then with the content written.
  auto first = claim_now(*t.a, "acme", "m-1");
  CHECK(first.kind == kind::fresh);
  CHECK(first.content.empty());
  CHECK(first.content_meta.empty());
  auto req = request("m-1", content);
  req.content_meta = meta;
  auto stored = claim_now(*t.a, req);
  CHECK(stored.kind == kind::resumed);
  CHECK(stored.content == content);
  CHECK(nlohmann::json::parse(stored.content_meta) == nlohmann::json::parse(meta));
  CHECK(t.db.count("SELECT count(*) FROM messages WHERE content_meta->>'provider' = 'fake'") == 1);

  // A redelivery claims without content: it gets both back.
  auto again = claim_now(*t.a, "acme", "m-1");
  CHECK(again.content == content);
  CHECK(nlohmann::json::parse(again.content_meta) == nlohmann::json::parse(meta));

  // Other content and meta later do not replace them.
  auto other = request("m-1", mime("Thu, 26 Nov 2026 01:00:00 +0000"));
  other.content_meta = R"({"provider":"other","cached":true,"fallback":true})";
  auto kept = claim_now(*t.a, other);
  CHECK(kept.content == content);
  CHECK(nlohmann::json::parse(kept.content_meta)["provider"] == "fake");

  // Meta without content is not stored; meta that is not JSON is dropped, not fatal.
  auto bare = request("m-2", "");
  bare.content_meta = R"({"provider":"fake"})";
  CHECK(claim_now(*t.a, bare).kind == kind::fresh);
  CHECK(t.db.count("SELECT count(*) FROM messages WHERE request_id = 'm-2' AND content_meta IS "
                   "NOT NULL") == 0);
  auto junk = request("m-3", content);
  junk.content_meta = "not json {";
  auto j = claim_now(*t.a, junk);
  CHECK(j.kind == kind::fresh);
  CHECK(j.content == content);
}

TEST_CASE("PostgreSQL: a claim by another instance during a live lease is busy; the holder "
          "resumes") {
  two_instances t;
  const std::string content = mime("Wed, 25 Nov 2026 17:09:24 +0000");
  const auto mine = claim_now(*t.a, "acme", "r-1", content);
  REQUIRE(mine.kind == kind::fresh);
  auto deferred = event("acme", "r-1", core::status::deferred, 1);
  deferred.smtp = {451, "4.7.1", "greylisted"};
  record_now(*t.a, deferred);

  const auto other = claim_now(*t.b, "acme", "r-1", mime("Thu, 26 Nov 2026 08:00:00 +0000"));
  CHECK(other.kind == kind::busy);
  CHECK(other.state == "deferred");
  CHECK(other.attempts == 1);
  CHECK(other.content.empty()); // nothing to send
  REQUIRE(other.lease_until);
  CHECK(*other.lease_until == *mine.lease_until); // A's lease, untouched
  CHECK(t.owner_of("r-1") == "instance-a");

  const auto again = claim_now(*t.a, "acme", "r-1", {});
  CHECK(again.kind == kind::resumed); // same owner: renews its lease
  CHECK(again.content == content);
  REQUIRE(again.lease_until);
  CHECK(*again.lease_until >= *mine.lease_until);

  // Once ended, the request is terminal for everyone, lease or not.
  record_now(*t.a, event("acme", "r-1", core::status::sent, 2));
  CHECK(claim_now(*t.b, "acme", "r-1").kind == kind::terminal);
  CHECK(t.db.count("SELECT claims FROM messages") == 4);
}

TEST_CASE("PostgreSQL: once the lease expired, another instance resumes the request") {
  two_instances t(std::chrono::seconds{1});
  const std::string content = mime("Wed, 25 Nov 2026 17:09:24 +0000");
  REQUIRE(claim_now(*t.a, "acme", "r-1", content).kind == kind::fresh);
  const auto busy = claim_now(*t.b, "acme", "r-1", {});
  REQUIRE(busy.kind == kind::busy);
  REQUIRE(busy.lease_until);
  CHECK(*busy.lease_until <= core::clock::now() + std::chrono::seconds{1});

  std::this_thread::sleep_until(*busy.lease_until + 50ms);
  const auto taken = claim_now(*t.b, "acme", "r-1", mime("Thu, 26 Nov 2026 08:00:00 +0000"));
  CHECK(taken.kind == kind::resumed);
  CHECK(taken.content == content); // the bytes A composed, Message-ID and Date included
  CHECK(t.owner_of("r-1") == "instance-b");
  CHECK(claim_now(*t.a, "acme", "r-1").kind == kind::busy); // now B's
}

TEST_CASE("PostgreSQL: release() lets another instance take the request at once") {
  two_instances t;
  REQUIRE(claim_now(*t.a, "acme", "r-1", mime("d")).kind == kind::fresh);
  REQUIRE(claim_now(*t.b, "acme", "r-1").kind == kind::busy);

  release_now(*t.b, "acme", "r-1"); // not B's lease: no effect
  CHECK(t.owner_of("r-1") == "instance-a");
  CHECK(claim_now(*t.b, "acme", "r-1").kind == kind::busy);

  release_now(*t.a, "acme", "r-1");
  CHECK(t.owner_of("r-1").empty());
  CHECK(t.db.count("SELECT count(*) FROM messages WHERE lease_until IS NULL") == 1);
  const auto taken = claim_now(*t.b, "acme", "r-1");
  CHECK(taken.kind == kind::resumed);
  CHECK(taken.content == mime("d"));
  CHECK(t.owner_of("r-1") == "instance-b");

  // Of a terminal row, or of a missing one: nothing happens.
  record_now(*t.b, event("acme", "r-1", core::status::sent, 1));
  release_now(*t.b, "acme", "r-1");
  release_now(*t.b, "acme", "unknown");
  CHECK(t.owner_of("r-1") == "instance-b");
  CHECK(t.db.count("SELECT count(*) FROM messages") == 1);
}

TEST_CASE("PostgreSQL: a terminal record flagged published marks its row; a claim tells a "
          "published outcome from one to publish again") {
  two_instances t;
  auto bounced = event("acme", "r-pub", core::status::bounced, 1);
  bounced.smtp = {550, "5.1.1", "no such user"};
  bounced.reason = "recipient rejected";
  auto bounced_published = bounced;
  bounced_published.published = true;

  SUBCASE("claim and published record in one batch, then a redelivery") {
    auto s = t.make("instance-a", std::chrono::seconds{600});
    std::vector<store::claim_result> results;
    completions done;
    auto on_claim = [&](store::claim_result r) {
      results.push_back(std::move(r));
      done.add();
    };
    s->claim(request("r-pub", mime("d")), on_claim);
    s->record(bounced_published, [&] { done.add(); });
    s->claim(request("r-pub", mime("d2")), on_claim); // cuts the batch: must see the record
    s->start();
    REQUIRE(done.wait_for(3, 10s));
    CHECK(s->transactions() == 2);
    REQUIRE(results.size() == 2);
    CHECK(results[0].kind == kind::fresh);
    const auto& r = results[1];
    CHECK(r.kind == kind::terminal);
    CHECK(r.state == "bounced");
    CHECK(r.published);
    CHECK(r.attempts == 1);
    CHECK(r.message_id == "<r-pub@test>");
    REQUIRE(r.last_smtp);
    CHECK(r.last_smtp->code == 550);
    CHECK(r.last_smtp->enhanced == "5.1.1");
    CHECK(r.last_smtp->text == "no such user");
    CHECK(r.reason == "recipient rejected");
    CHECK(r.content.empty());
    CHECK(s->find("acme", "r-pub")->published);

    // The duplicate event of that redelivery does not change the state: still published.
    record_now(*s, event("acme", "r-pub", core::status::duplicate));
    CHECK(claim_now(*t.b, "acme", "r-pub").published);
  }
  SUBCASE("recorded but never published: a claim says so, with what to publish again") {
    REQUIRE(claim_now(*t.a, "acme", "r-pub", mime("d")).kind == kind::fresh);
    record_now(*t.a, bounced);
    const auto r = claim_now(*t.b, "acme", "r-pub");
    CHECK(r.kind == kind::terminal);
    CHECK_FALSE(r.published);
    REQUIRE(r.last_smtp);
    CHECK(r.last_smtp->code == 550);
    CHECK(r.reason == "recipient rejected");
    CHECK_FALSE(t.a->find("acme", "r-pub")->published);

    record_now(*t.b, bounced_published); // the event published again, acknowledged
    CHECK(claim_now(*t.b, "acme", "r-pub").published);
    CHECK(t.b->find("acme", "r-pub")->state == "bounced");
  }
  SUBCASE("the flag on a record that is not terminal marks nothing, nor does it carry over") {
    REQUIRE(claim_now(*t.a, "acme", "r-pub", mime("d")).kind == kind::fresh);
    auto deferred = event("acme", "r-pub", core::status::deferred, 1);
    deferred.published = true;
    record_now(*t.a, deferred);
    CHECK_FALSE(t.a->find("acme", "r-pub")->published);

    auto s = t.make("instance-a", std::chrono::seconds{600});
    completions done;
    s->record(deferred, [&] { done.add(); });
    s->record(bounced, [&] { done.add(); }); // after the flagged one: must not inherit it
    s->start();
    REQUIRE(done.wait_for(2, 10s));
    CHECK_FALSE(claim_now(*s, "acme", "r-pub").published);
  }
  SUBCASE("a state change clears the mark") {
    REQUIRE(claim_now(*t.a, "acme", "r-pub", mime("d")).kind == kind::fresh);
    auto sent = event("acme", "r-pub", core::status::sent, 1);
    sent.published = true;
    record_now(*t.a, sent);
    CHECK(t.a->find("acme", "r-pub")->published);
    record_now(*t.a, bounced); // a late bounce (an operator's correction): not published yet
    CHECK_FALSE(t.a->find("acme", "r-pub")->published);
  }
}

TEST_CASE("PostgreSQL: a 1 MiB content round-trips byte-exact; batches are cut by "
          "batch_max_bytes") {
  // CRLF lines mixing ASCII with 2-, 3- and 4-byte UTF-8 sequences, and a few quotes and
  // backslashes that JSON escapes.
  std::string big = "Message-ID: <big@test>\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\n\r\n";
  for (int i = 0; big.size() < (std::size_t{1} << 20); ++i)
    big += "ligne " + std::to_string(i) +
           " : caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\xae \"q\" \\ \t\r\n";
  big.resize(std::size_t{1} << 20);
  while ((static_cast<unsigned char>(big.back()) & 0xc0) == 0x80 ||
         static_cast<unsigned char>(big.back()) >= 0xc0) // no truncated sequence at the end
    big.pop_back();
  big += "\r\n.\r\n";

  two_instances t;
  const auto fresh = claim_now(*t.a, "acme", "big", big);
  CHECK(fresh.kind == kind::fresh);
  CHECK(fresh.content == big);
  CHECK(t.db.count("SELECT octet_length(content) FROM messages") ==
        static_cast<long long>(big.size()));
  release_now(*t.a, "acme", "big");
  const auto read_back = claim_now(*t.b, "acme", "big", "other");
  CHECK(read_back.kind == kind::resumed);
  CHECK(read_back.content.size() == big.size());
  CHECK(read_back.content == big); // from PostgreSQL, not an echo of what was sent

  // 12 claims of ~1 MiB with a 4 MiB budget: 3 per transaction.
  auto cfg = store_config_for(t.db);
  cfg.batch_max_bytes = std::size_t{4} << 20;
  store::store s(cfg);
  completions done;
  for (int i = 0; i < 12; ++i)
    s.claim(request("bulk-" + std::to_string(i), big), [&](store::claim_result r) {
      if (r.kind == kind::fresh && r.content == big) done.add();
    });
  s.start();
  REQUIRE(done.wait_for(12, 20s));
  CHECK(s.transactions() == 4);
  CHECK(t.db.count("SELECT count(*) FROM messages WHERE octet_length(content) = " +
                   std::to_string(big.size())) == 13);
}

} // namespace test_integration_store_claim_lease_test
