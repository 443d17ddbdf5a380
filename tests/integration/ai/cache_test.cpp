// The AI client with PostgreSQL (the stack's) and tests/peers/fake_openai.py: an answer cached
// in ai_cache serves another client (a restarted daemon, another instance) without a call;
// style profiles reach the prompt; PostgreSQL down costs no more than pg_timeout.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

#include "ai/client.hpp"
#include "ai/pg.hpp"
#include "ai/style.hpp"
#include "fake.hpp"
#include "pg.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_ai_cache_test {

using namespace iaposte;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace st = iaposte::smtp::test;

namespace {

ai::ai_config config(const std::string& base_url, const std::string& db_url) {
  ai::ai_config c;
  ai::provider_config p;
  p.name = "one";
  p.base_url = base_url;
  p.model = "fake-one";
  p.timeout = 2000ms;
  c.providers = {p};
  c.database_url = db_url;
  c.pg_timeout = 2000ms;
  return c;
}

ai::request personalize() {
  ai::request r;
  r.kind = ai::mode::personalize;
  r.tenant = "acme";
  r.sender = "news@acme.example";
  r.request_id = "r1";
  r.subject = "Votre commande";
  r.text = "Votre commande 42 est prête.";
  r.contact = {{"first_name", "Ana"}};
  return r;
}

void migrate(const std::string& url) {
  store::store_config sc;
  sc.url = url;
  store::store db(sc);
  db.migrate();
}

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

} // namespace

TEST_CASE("an answer in ai_cache serves a second client (a restart) without a model call") {
  testing::test_database db;
  migrate(db.url());
  ai::test::fake_openai fake;
  asio::io_context ioc;
  {
    ai::client first(ioc.get_executor(), config(fake.base_url(), db.url()));
    auto res = st::run(ioc, first.run(personalize()));
    CHECK(res.provider == "one");
    CHECK(!res.cached);
    REQUIRE(eventually([&] { return db.count("SELECT count(*) FROM ai_cache") == 1; }));
    CHECK(db.count("SELECT count(*) FROM ai_cache WHERE expires_at > now() + interval '1 hour'") ==
          1);
  }
  ai::client second(ioc.get_executor(), config(fake.base_url(), db.url()));
  auto again = st::run(ioc, second.run(personalize()));
  CHECK(again.cached);
  CHECK(again.provider == "one");
  CHECK(again.subject == "[AI] Votre commande");
  CHECK(second.stats().cache_hits_pg == 1);
  CHECK(fake.requests().size() == 1);
  // Now in its memory too.
  auto third = st::run(ioc, second.run(personalize()));
  CHECK(third.cached);
  CHECK(second.stats().cache_hits_memory == 1);
}

TEST_CASE("answers queued for ai_cache when the client stops are written, not dropped") {
  testing::test_database db;
  migrate(db.url());
  {
    ai::detail::pg_worker w(db.url());
    for (int i = 0; i < 200; ++i)
      w.cache_put("stop-" + std::to_string(i), R"({"subject":"s","text":"t"})", 3600s);
  } // stopped at once, most of them still queued
  CHECK(db.count("SELECT count(*) FROM ai_cache WHERE key LIKE 'stop-%'") == 200);
}

TEST_CASE("style profiles: the sender's, else the tenant default, reach the system prompt") {
  testing::test_database db;
  migrate(db.url());
  ai::set_style(db.url(), {"acme", "", "sobre", "vous", "fr", "Cordialement, Acme"});
  ai::set_style(db.url(), {"acme", "vip@acme.example", "chaleureux", "tu", "fr", "Bises"});
  auto def = ai::get_style(db.url(), "acme", "news@acme.example");
  REQUIRE(def);
  CHECK(def->tone == "sobre");
  auto vip = ai::get_style(db.url(), "acme", "vip@acme.example");
  REQUIRE(vip);
  CHECK(vip->formality == "tu");
  CHECK(!ai::get_style(db.url(), "other", ""));
  CHECK_THROWS_AS(ai::set_style(db.url(), {"acme", "", "", "toi", "", ""}), std::invalid_argument);

  ai::test::fake_openai fake;
  asio::io_context ioc;
  ai::client c(ioc.get_executor(), config(fake.base_url(), db.url()));
  auto r = personalize();
  st::run(ioc, c.run(r));
  r.sender = "vip@acme.example";
  st::run(ioc, c.run(r));
  auto reqs = fake.requests();
  REQUIRE(reqs.size() == 2);
  const std::string first = reqs[0]["body"]["messages"][0]["content"];
  const std::string second = reqs[1]["body"]["messages"][0]["content"];
  CHECK(first.find("Tone: sobre") != std::string::npos);
  CHECK(first.find("Cordialement, Acme") != std::string::npos);
  CHECK(second.find("Tone: chaleureux") != std::string::npos);
  CHECK(second.find("\"tu\"") != std::string::npos);
}

TEST_CASE("PostgreSQL unreachable: the client still answers, without waiting on it") {
  ai::test::fake_openai fake;
  asio::io_context ioc;
  auto cfg =
      config(fake.base_url(),
             "postgresql://nobody@127.0.0.1:" + std::to_string(testing::free_port()) + "/none");
  cfg.pg_timeout = 300ms;
  ai::client c(ioc.get_executor(), cfg);
  const auto t0 = std::chrono::steady_clock::now();
  auto res = st::run(ioc, c.run(personalize()));
  CHECK(res.provider == "one");
  CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
}

} // namespace test_integration_ai_cache_test
