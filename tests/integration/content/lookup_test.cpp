// content_lookup against a real PostgreSQL: one statement per batch, templates and signatures
// from the cache, every part of the answer, suppression writes, PostgreSQL going away, stop().
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <thread>

#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_content_lookup_test {

using namespace iaposte;
using namespace iaposte::testing;
using store::mail_category;
using store::suppression_reason;

namespace {

store::content_lookup_config config_for(const test_database& db) {
  store::content_lookup_config cfg;
  cfg.url = db.url();
  cfg.retry_interval = 100ms;
  return cfg;
}

store::template_put put(const std::string& name, const std::string& text,
                        std::vector<std::string> locales = {""}) {
  store::template_put t;
  t.tenant = "acme";
  t.name = name;
  for (const auto& l : locales)
    t.variants.push_back({l, "Sujet " + (l.empty() ? "default" : l), text + " " + l, "", ""});
  return t;
}

// A tenant with a template, `n` contacts, a signature and a few suppressions.
struct fixture {
  content_database db;
  store::content_store s{db.url()};
  std::vector<std::int64_t> ids;

  explicit fixture(int n = 0) {
    s.put_template(put("bienvenue", "v1", {"", "fr"}));
    std::string csv = "email,name\r\n";
    for (int i = 0; i < n; ++i)
      csv += "c" + std::to_string(i) + "@exemple.fr,Client " + std::to_string(i) + "\r\n";
    if (n > 0) REQUIRE(s.import_contacts("acme", csv).inserted == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
      ids.push_back(s.find_contact("acme", "c" + std::to_string(i) + "@exemple.fr")->id);
    s.set_signature({"acme", "ventes@acme.fr", "<p>Ventes</p>", "Ventes", {}});
    s.add_suppression(
        {"acme", "bounce@exemple.fr", suppression_reason::hard_bounce, "", {}, "", ""});
    s.add_suppression(
        {"acme", "desabo@exemple.fr", suppression_reason::unsubscribe, "", {}, "", ""});
  }
};

store::content_query query(int i, std::int64_t id) {
  store::content_query q;
  q.tenant = "acme";
  q.tmpl = store::template_ref{"bienvenue", std::nullopt, {"fr-FR"}};
  q.contacts = {{id, ""}, {std::nullopt, "C" + std::to_string(i) + "@EXEMPLE.fr"}};
  q.sender = "ventes@ACME.fr";
  q.recipients = {"c" + std::to_string(i) + "@exemple.fr", "bounce@exemple.fr",
                  "desabo@exemple.fr"};
  q.category = i % 2 ? mail_category::marketing : mail_category::transactional;
  return q;
}

// What query(i, ...) must get, given the fixture.
void check_answer(const store::content_answer& a, int i, std::int64_t id) {
  CAPTURE(i);
  REQUIRE(a.error.empty());
  REQUIRE(a.tmpl);
  CHECK(a.tmpl->version == 1);
  CHECK(a.tmpl->parts.locale == "fr");
  CHECK(a.tmpl->parts.text == "v1 fr");
  REQUIRE(a.contacts.size() == 2);
  REQUIRE(a.contacts[0]);
  CHECK(a.contacts[0]->id == id);
  CHECK(a.contacts[0]->name == "Client " + std::to_string(i));
  CHECK_FALSE(a.contacts[1]); // C<i>: the local part is case-sensitive
  REQUIRE(a.sig);
  CHECK(a.sig->text == "Ventes");
  // bounce@ always; desabo@ (unsubscribe) only for marketing.
  const std::size_t stopped = i % 2 ? 2 : 1;
  REQUIRE(a.suppressed.size() == stopped);
  CHECK(a.suppressed[0].address == "bounce@exemple.fr");
  CHECK(a.suppressed[0].reason == suppression_reason::hard_bounce);
  if (stopped == 2) CHECK(a.suppressed[1].reason == suppression_reason::unsubscribe);
}

// Queues every query, then waits for all the answers.
std::vector<store::content_answer> lookup_all(store::content_lookup& l,
                                              std::vector<store::content_query> qs,
                                              std::chrono::milliseconds timeout = 20s) {
  std::vector<std::future<store::content_answer>> futures;
  for (auto& q : qs) {
    auto p = std::make_shared<std::promise<store::content_answer>>();
    futures.push_back(p->get_future());
    l.lookup(std::move(q), [p](store::content_answer a) { p->set_value(std::move(a)); });
  }
  std::vector<store::content_answer> out;
  for (auto& f : futures) {
    if (f.wait_for(timeout) != std::future_status::ready)
      throw std::runtime_error("lookup never answered");
    out.push_back(f.get());
  }
  return out;
}

} // namespace

TEST_CASE("content_lookup answers 300 queued look-ups with one statement, then the template and "
          "signature come from the cache") {
  fixture f(300);
  store::content_lookup l(config_for(f.db));
  std::vector<store::content_query> qs;
  for (int i = 0; i < 300; ++i)
    qs.push_back(query(i, f.ids[i]));
  // Queued before start(): the thread takes them as one batch.
  std::vector<std::future<store::content_answer>> futures;
  for (auto& q : qs) {
    auto p = std::make_shared<std::promise<store::content_answer>>();
    futures.push_back(p->get_future());
    l.lookup(q, [p](store::content_answer a) { p->set_value(std::move(a)); });
  }
  l.start();
  for (int i = 0; i < 300; ++i) {
    REQUIRE(futures[i].wait_for(20s) == std::future_status::ready);
    check_answer(futures[i].get(), i, f.ids[i]);
  }
  CHECK(l.statements() == 1);
  CHECK(l.batches() == 1);
  CHECK(l.template_cache_misses() == 300); // none cached yet; one row fetched for all of them
  CHECK(l.healthy());

  // Template and signature only: nothing to ask PostgreSQL.
  std::vector<store::content_query> cached;
  for (int i = 0; i < 50; ++i) {
    store::content_query q;
    q.tenant = "acme";
    q.tmpl = store::template_ref{"bienvenue", std::nullopt, {"de"}};
    q.sender = "ventes@acme.fr";
    cached.push_back(q);
  }
  for (const auto& a : lookup_all(l, cached)) {
    REQUIRE(a.tmpl);
    CHECK(a.tmpl->parts.locale == "");
    REQUIRE(a.sig);
  }
  CHECK(l.statements() == 1);
  CHECK(l.template_cache_hits() == 50);
  CHECK(l.signature_cache_hits() == 50);

  // With contacts and recipients: one statement per batch, the template still from the cache.
  const auto before_misses = l.template_cache_misses();
  const auto before_batches = l.batches();
  const auto answers = lookup_all(l, qs);
  for (int i = 0; i < 300; ++i)
    check_answer(answers[i], i, f.ids[i]);
  CHECK(l.statements() - 1 == l.batches() - before_batches);
  CHECK(l.template_cache_misses() == before_misses);
  CHECK(eventually([&] { return l.pending() == 0; }, 5s));
}

TEST_CASE("content_lookup: an activation shows once the TTL has passed; versions asked by number "
          "stay cached") {
  fixture f;
  auto cfg = config_for(f.db);
  cfg.template_ttl = 60s; // the cached head outlives the test
  cfg.signature_ttl = 60s;
  store::content_lookup cached(cfg);
  cfg.template_ttl = 50ms;
  cfg.signature_ttl = 50ms;
  store::content_lookup fresh(cfg);
  cached.start();
  fresh.start();
  store::content_query q;
  q.tenant = "acme";
  q.tmpl = store::template_ref{"bienvenue", std::nullopt, {}};
  q.sender = "ventes@acme.fr";
  CHECK(lookup_now(cached, q).tmpl->version == 1);
  CHECK(lookup_now(fresh, q).tmpl->version == 1);

  f.s.put_template(put("bienvenue", "v2"));
  f.s.activate_template("acme", "bienvenue", 2);
  f.s.set_signature({"acme", "ventes@acme.fr", "", "Nouvelle", {}});
  CHECK(eventually(
      [&] {
        const auto a = lookup_now(fresh, q);
        return a.tmpl && a.tmpl->version == 2 && a.sig && a.sig->text == "Nouvelle";
      },
      10s));
  CHECK(lookup_now(fresh, q).tmpl->parts.text == "v2 ");
  // Within its TTL the other instance still answers from its cache, without PostgreSQL.
  const auto statements = cached.statements();
  const auto a = lookup_now(cached, q);
  CHECK(a.tmpl->version == 1);
  CHECK(a.sig->text == "Ventes");
  CHECK(cached.statements() == statements);

  // A version asked by number is immutable: cached after its first fetch.
  q.tmpl->version = 2;
  CHECK(lookup_now(cached, q).tmpl->parts.text == "v2 ");
  const auto after = cached.statements();
  CHECK(lookup_now(cached, q).tmpl->version == 2);
  CHECK(cached.statements() == after);
}

TEST_CASE("content_lookup: unknown template, version or locale, unknown contacts and another "
          "tenant's data give readable answers, not errors") {
  fixture f(1);
  f.s.put_template(put("francais", "fr seulement", {"fr"}));
  store::content_lookup l(config_for(f.db));
  l.start();
  auto ask = [&](const std::string& tenant, const std::string& name, std::optional<int> version,
                 std::vector<std::string> locales) {
    store::content_query q;
    q.tenant = tenant;
    q.tmpl = store::template_ref{name, version, std::move(locales)};
    return lookup_now(l, q);
  };
  auto a = ask("acme", "inconnu", std::nullopt, {});
  CHECK(a.error.empty());
  CHECK_FALSE(a.tmpl);
  CHECK(a.template_error == "unknown template 'inconnu'");
  a = ask("acme", "bienvenue", 9, {});
  CHECK(a.template_error == "unknown version 9 of template 'bienvenue'");
  a = ask("acme", "francais", std::nullopt, {"de", "en-US"});
  CHECK(a.template_error ==
        "template 'francais' version 1 has no variant for de, en-US and no default variant");
  a = ask("acme", "francais", std::nullopt, {"fr-BE"});
  REQUIRE(a.tmpl);
  CHECK(a.tmpl->parts.text == "fr seulement fr");
  a = ask("globex", "bienvenue", std::nullopt, {});
  CHECK(a.template_error == "unknown template 'bienvenue'");

  store::content_query q;
  q.tenant = "globex";
  q.contacts = {{f.ids[0], ""}, {std::nullopt, "c0@exemple.fr"}};
  q.recipients = {"bounce@exemple.fr"};
  q.sender = "ventes@acme.fr";
  q.category = mail_category::marketing;
  a = lookup_now(l, q);
  CHECK(a.error.empty());
  REQUIRE(a.contacts.size() == 2);
  CHECK_FALSE(a.contacts[0]);
  CHECK_FALSE(a.contacts[1]);
  CHECK(a.suppressed.empty());
  CHECK_FALSE(a.sig);

  // The tenant's default signature when the sender has none.
  f.s.set_signature({"acme", "", "", "Acme", {}});
  q.tenant = "acme";
  q.sender = "autre@acme.fr";
  q.contacts.clear();
  a = lookup_now(l, q);
  REQUIRE(a.sig);
  CHECK(a.sig->sender == "");
  CHECK(a.sig->text == "Acme");
}

TEST_CASE("content_lookup: an entry of one list stops that list's mail; list '' every list") {
  fixture f;
  f.s.add_suppression(
      {"acme", "lecteur@exemple.fr", suppression_reason::unsubscribe, "newsletter", {}, "", ""});
  store::content_lookup l(config_for(f.db));
  l.start();
  store::content_query q;
  q.tenant = "acme";
  q.recipients = {"lecteur@exemple.fr", "desabo@Exemple.FR"};
  q.category = mail_category::marketing;
  q.list = "newsletter";
  auto a = lookup_now(l, q);
  REQUIRE(a.suppressed.size() == 2);
  CHECK(a.suppressed[0].list == "newsletter");
  CHECK(a.suppressed[1].address == "desabo@exemple.fr");
  q.list = "promotions";
  a = lookup_now(l, q);
  REQUIRE(a.suppressed.size() == 1);
  CHECK(a.suppressed[0].address == "desabo@exemple.fr");
  q.category = mail_category::transactional;
  CHECK(lookup_now(l, q).suppressed.empty());
}

TEST_CASE("content_lookup::suppress: a batch of writes in one statement, idempotent, the "
          "strongest reason kept, seen by the look-ups queued after it") {
  fixture f;
  store::content_lookup l(config_for(f.db));
  std::vector<std::future<std::string>> done;
  auto suppress = [&](const std::string& address, suppression_reason r, const std::string& src) {
    auto p = std::make_shared<std::promise<std::string>>();
    done.push_back(p->get_future());
    l.suppress({"acme", address, r, "", {}, src, ""}, [p](std::string e) { p->set_value(e); });
  };
  for (int i = 0; i < 50; ++i) {
    suppress("b" + std::to_string(i) + "@exemple.fr", suppression_reason::unsubscribe, "r1");
    suppress("b" + std::to_string(i) + "@EXEMPLE.fr", suppression_reason::hard_bounce, "r2");
  }
  suppress("pas une adresse", suppression_reason::hard_bounce, "r3");
  store::content_query q;
  q.tenant = "acme";
  q.recipients = {"b7@exemple.fr"};
  auto answer = std::async(std::launch::async, [&] { return lookup_now(l, q); });
  REQUIRE(eventually([&] { return l.pending() == 102; }, 5s)); // queued after the writes
  l.start();
  for (std::size_t i = 0; i + 1 < done.size(); ++i) {
    REQUIRE(done[i].wait_for(10s) == std::future_status::ready);
    CHECK(done[i].get() == "");
  }
  REQUIRE(done.back().wait_for(10s) == std::future_status::ready);
  CHECK(done.back().get().find("invalid email address") != std::string::npos);
  const auto a = answer.get();
  REQUIRE(a.suppressed.size() == 1);
  CHECK(a.suppressed[0].reason == suppression_reason::hard_bounce);
  CHECK(f.db.count("SELECT count(*) FROM suppressions WHERE address ~ '^b[0-9]+@'") == 50);
  CHECK(f.db.count("SELECT count(*) FROM suppressions WHERE reason = 'hard_bounce' AND "
                   "source_request_id = 'r2'") == 50);
  CHECK(l.statements() == 2); // the writes, then the look-up

  // Again: nothing changes.
  std::promise<std::string> p;
  l.suppress({"acme", "b1@exemple.fr", suppression_reason::unsubscribe, "", {}, "r9", ""},
             [&](std::string e) { p.set_value(e); });
  CHECK(p.get_future().get() == "");
  CHECK(f.db.count("SELECT count(*) FROM suppressions WHERE source_request_id = 'r9'") == 0);
}

TEST_CASE("content_lookup: while PostgreSQL is stopped look-ups wait, then get the right answer "
          "once it is back; a restart under load gives no wrong answer" *
          doctest::test_suite("restarts_postgres")) {
  fixture f(20);
  store::content_lookup l(config_for(f.db));
  l.start();
  check_answer(lookup_now(l, query(0, f.ids[0])), 0, f.ids[0]);

  stack_postgres("stop");
  // A write first: the look-ups queued after it see it.
  std::promise<std::string> written;
  l.suppress({"acme", "c3@exemple.fr", suppression_reason::complaint, "", {}, "", ""},
             [&](std::string e) { written.set_value(e); });
  std::atomic<int> answered{0};
  std::vector<std::future<store::content_answer>> futures;
  for (int i = 0; i < 20; ++i) {
    auto p = std::make_shared<std::promise<store::content_answer>>();
    futures.push_back(p->get_future());
    l.lookup(query(i, f.ids[i]), [p, &answered](store::content_answer a) {
      ++answered;
      p->set_value(std::move(a));
    });
  }
  CHECK(eventually([&] { return !l.healthy(); }, 10s));
  std::this_thread::sleep_for(500ms); // several retries while it is down
  CHECK(answered == 0);
  CHECK(l.pending() == 21);
  stack_postgres("start");
  auto w = written.get_future();
  REQUIRE(w.wait_for(30s) == std::future_status::ready);
  CHECK(w.get() == "");
  for (int i = 0; i < 20; ++i) {
    REQUIRE(futures[i].wait_for(30s) == std::future_status::ready);
    auto a = futures[i].get();
    if (i == 3) { // the complaint written while PostgreSQL was down
      REQUIRE(a.suppressed.size() >= 2);
      CHECK(a.suppressed[0].reason == suppression_reason::complaint);
      continue;
    }
    check_answer(a, i, f.ids[i]);
  }
  CHECK(l.healthy());

  // A restart while look-ups keep coming: each one is answered, and answered right.
  std::atomic<bool> go{true};
  std::atomic<int> checked{0}, wrong{0};
  std::thread client([&] {
    for (int n = 0; go; ++n) {
      const int i = 4 + n % 16;
      try {
        const auto a = lookup_now(l, query(i, f.ids[i]), 60s);
        const bool right = a.error.empty() && a.tmpl && a.contacts.size() == 2 && a.contacts[0] &&
                           a.contacts[0]->id == f.ids[i] && !a.suppressed.empty();
        (right ? checked : wrong)++;
      } catch (const std::exception&) {
        wrong++;
      }
    }
  });
  CHECK(eventually([&] { return checked > 20; }, 10s));
  stack_postgres("restart");
  const int after_restart = checked;
  CHECK(eventually([&] { return checked > after_restart + 20; }, 30s));
  go = false;
  client.join();
  CHECK(wrong == 0);
}

TEST_CASE("content_lookup::stop answers what is left with an error; later calls get it at once") {
  store::content_lookup_config cfg;
  cfg.url = "postgresql://iaposte@127.0.0.1:" + std::to_string(free_port()) + "/iaposte";
  cfg.retry_interval = 50ms;
  store::content_lookup l(cfg);
  std::vector<std::future<store::content_answer>> futures;
  for (int i = 0; i < 5; ++i) {
    auto p = std::make_shared<std::promise<store::content_answer>>();
    futures.push_back(p->get_future());
    store::content_query q;
    q.tenant = "acme";
    q.recipients = {"a@exemple.fr"};
    l.lookup(q, [p](store::content_answer a) { p->set_value(std::move(a)); });
  }
  std::promise<std::string> written;
  l.suppress({"acme", "a@exemple.fr", suppression_reason::manual, "", {}, "", ""},
             [&](std::string e) { written.set_value(e); });
  l.start();
  std::this_thread::sleep_for(200ms);
  CHECK_FALSE(l.healthy());
  for (auto& f : futures)
    CHECK(f.wait_for(0s) == std::future_status::timeout); // waiting, not guessed
  l.stop(100ms);
  for (auto& f : futures) {
    REQUIRE(f.wait_for(0s) == std::future_status::ready);
    const auto a = f.get();
    CHECK(a.error == "content look-up stopped");
    CHECK(a.suppressed.empty());
  }
  CHECK(written.get_future().get() == "content look-up stopped");
  CHECK(lookup_now(l, {}).error == "content look-up stopped");

  // Never started: stop() answers the queue too.
  store::content_lookup idle(cfg);
  std::promise<store::content_answer> p;
  idle.lookup({}, [&](store::content_answer a) { p.set_value(std::move(a)); });
  idle.stop();
  CHECK(p.get_future().get().error == "content look-up stopped");
}

TEST_CASE("content_lookup: a statement PostgreSQL refuses answers with an error, never a guess") {
  fixture f(2);
  store::content_lookup l(config_for(f.db));
  l.start();
  check_answer(lookup_now(l, query(0, f.ids[0])), 0, f.ids[0]);
  f.db.query("DROP TABLE signatures");
  const auto answers = lookup_all(l, {query(0, f.ids[0]), query(1, f.ids[1])});
  for (const auto& a : answers) {
    CHECK(a.error.find("content look-up failed: ") == 0);
    CHECK(a.error.find("signatures") != std::string::npos);
    CHECK_FALSE(a.tmpl);
    CHECK(a.contacts.empty());
  }
  CHECK(l.healthy()); // PostgreSQL answered: it is up, it refused the statement
}

} // namespace test_integration_content_lookup_test
