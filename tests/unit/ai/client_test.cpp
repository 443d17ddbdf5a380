// The AI client against tests/peers/fake_openai.py over real sockets: happy paths, retries
// with Retry-After, timeouts, broken connections, invalid answers, the fallback chain, the
// breaker, the concurrency bound, HTTPS with a throw-away CA.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "ai/client.hpp"
#include "fake.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_ai_client_test {

using namespace iaposte::ai;
using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;
namespace asio = boost::asio;
using iaposte::ai::test::fake_openai;
namespace st = iaposte::smtp::test;

namespace {

using steady = std::chrono::steady_clock;

provider_config provider(const std::string& name, const std::string& base_url) {
  provider_config p;
  p.name = name;
  p.base_url = base_url;
  p.model = "fake-" + name;
  p.api_key = "sk-test-" + name;
  p.timeout = 2000ms;
  p.retry_initial = 10ms;
  p.retry_max = 3000ms;
  p.max_retries = 2;
  return p;
}

ai_config config(std::vector<provider_config> ps) {
  ai_config c;
  c.providers = std::move(ps);
  c.deadline = 10s;
  c.pg_cache = false;
  return c;
}

request personalize(const std::string& first_name = "Ana") {
  request r;
  r.kind = mode::personalize;
  r.tenant = "acme";
  r.sender = "news@acme.example";
  r.request_id = "req-" + first_name;
  r.subject = "Votre commande";
  r.text = "Votre commande 42 est prête: https://shop.example/o/42";
  r.contact = {{"first_name", first_name}};
  return r;
}

result run_one(asio::io_context& ioc, client& c, const request& r) {
  return st::run(ioc, c.run(r), 20000ms);
}

// A throw-away PKI: a CA, a server certificate for localhost/127.0.0.1, an unrelated CA.
struct pki {
  st::temp_dir dir;
  fs::path ca = dir / "ca.pem", other_ca = dir / "other-ca.pem";
  fs::path cert = dir / "server.pem", key = dir / "server.key";
  pki() {
    make_ca("ca", "iaposte ai test CA");
    make_ca("other-ca", "another CA");
    openssl({"req",
             "-x509",
             "-newkey",
             "ec",
             "-pkeyopt",
             "ec_paramgen_curve:prime256v1",
             "-nodes",
             "-keyout",
             key.string(),
             "-out",
             cert.string(),
             "-days",
             "2",
             "-subj",
             "/CN=localhost",
             "-CA",
             ca.string(),
             "-CAkey",
             (dir / "ca.key").string(),
             "-addext",
             "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-addext",
             "basicConstraints=CA:FALSE",
             "-addext",
             "extendedKeyUsage=serverAuth"});
  }

private:
  void openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    if (st::run_command(args, dir / "openssl.log") != 0)
      throw std::runtime_error("openssl failed: " + st::read_file(dir / "openssl.log"));
  }
  void make_ca(const std::string& name, const std::string& cn) {
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", (dir / (name + ".key")).string(), "-out", (dir / (name + ".pem")).string(),
             "-days", "2", "-subj", "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  }
};

} // namespace

TEST_CASE("personalize: the model's validated answer, with the key, model and JSON mode sent") {
  fake_openai fake;
  asio::io_context ioc;
  client c(ioc.get_executor(), config({provider("one", fake.base_url())}));
  auto res = run_one(ioc, c, personalize());
  CHECK(res.provider == "one");
  CHECK(res.model == "fake-one");
  CHECK(!res.fallback);
  CHECK(!res.cached);
  CHECK(res.subject == "[AI] Votre commande");
  CHECK(res.text == "Bonjour Ana,\nVotre commande 42 est prête: https://shop.example/o/42");
  CHECK(res.sentiment.label == "positive");
  CHECK(res.sentiment.source == "model");
  CHECK(res.tokens_in > 0);
  CHECK(res.tokens_out > 0);
  auto reqs = fake.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0]["path"] == "/v1/chat/completions");
  CHECK(reqs[0]["headers"]["authorization"] == "Bearer sk-test-one");
  CHECK(reqs[0]["body"]["model"] == "fake-one");
  CHECK(reqs[0]["body"]["response_format"]["type"] == "json_object");
  CHECK(c.stats().providers[0].calls == 1);
  CHECK(c.stats().providers[0].tokens_in == res.tokens_in);

  // The connection is kept alive and reused by the next call.
  CHECK(c.idle_connections("one") == 1);
  auto second = run_one(ioc, c, personalize("Bob"));
  CHECK(second.provider == "one");
  CHECK(c.idle_connections("one") == 1);
}

TEST_CASE("generate: subject and body from instructions, style profile in the system prompt, "
          "lexicon tone when the model gives none") {
  fake_openai fake;
  fake.set_default({{"kind", "ok"}, {"sentiment", false}});
  asio::io_context ioc;
  client c(ioc.get_executor(), config({provider("one", fake.base_url())}));
  request r;
  r.kind = mode::generate;
  r.tenant = "acme";
  r.instructions = "Remercier pour la fidélité, merci encore";
  r.contact = {{"first_name", "Zoé"}};
  r.style = style_profile{"acme", "", "chaleureux", "tu", "fr", "Bises, Léa"};
  auto res = run_one(ioc, c, r);
  CHECK(res.provider == "one");
  CHECK(res.subject == "Generated: Remercier pour la fidélité, merci encore");
  CHECK(res.sentiment.source == "lexicon");
  CHECK(res.sentiment.label == "positive");
  auto reqs = fake.requests();
  REQUIRE(reqs.size() == 1);
  const std::string system = reqs[0]["body"]["messages"][0]["content"];
  CHECK(system.find("Tone: chaleureux") != std::string::npos);
  CHECK(system.find("\"tu\"") != std::string::npos);
  CHECK(system.find("Bises, Léa") != std::string::npos);
}

TEST_CASE("a second identical request is answered from the memory cache without a call") {
  fake_openai fake;
  asio::io_context ioc;
  client c(ioc.get_executor(), config({provider("one", fake.base_url())}));
  auto first = run_one(ioc, c, personalize());
  auto again = run_one(ioc, c, personalize());
  CHECK(!first.cached);
  CHECK(again.cached);
  CHECK(again.provider == "one");
  CHECK(again.subject == first.subject);
  CHECK(again.tokens_in == 0);
  CHECK(fake.requests().size() == 1);
  CHECK(c.stats().cache_hits_memory == 1);
}

TEST_CASE("429 is retried after the Retry-After delay") {
  fake_openai fake;
  fake.queue(json::array({{{"kind", "429"}, {"retry_after", "1"}}}));
  asio::io_context ioc;
  client c(ioc.get_executor(), config({provider("one", fake.base_url())}));
  const auto t0 = steady::now();
  auto res = run_one(ioc, c, personalize());
  const auto took = steady::now() - t0;
  CHECK(res.provider == "one");
  CHECK(!res.fallback);
  CHECK(took >= 1000ms);
  CHECK(took < 3000ms);
  CHECK(fake.requests().size() == 2);
  CHECK(c.stats().providers[0].retries == 1);
}

TEST_CASE("a Retry-After beyond retry_max moves on to the next provider") {
  fake_openai a, b;
  a.queue(json::array({{{"kind", "429"}, {"retry_after", "120"}}}));
  asio::io_context ioc;
  client c(ioc.get_executor(), config({provider("a", a.base_url()), provider("b", b.base_url())}));
  const auto t0 = steady::now();
  auto res = run_one(ioc, c, personalize());
  CHECK(steady::now() - t0 < 2000ms);
  CHECK(res.provider == "b");
  CHECK(res.fallback);
  CHECK(res.error.find("a: HTTP 429") != std::string::npos);
}

TEST_CASE("500 is retried with backoff") {
  fake_openai fake;
  fake.queue(json::array({{{"kind", "500"}}, {{"kind", "500"}}}));
  asio::io_context ioc;
  client c(ioc.get_executor(), config({provider("one", fake.base_url())}));
  auto res = run_one(ioc, c, personalize());
  CHECK(res.provider == "one");
  CHECK(fake.requests().size() == 3);
  CHECK(c.stats().providers[0].retries == 2);
}

TEST_CASE("a connection closed without an answer is retried") {
  fake_openai fake;
  fake.queue(json::array({{{"kind", "close"}}}));
  asio::io_context ioc;
  client c(ioc.get_executor(), config({provider("one", fake.base_url())}));
  auto res = run_one(ioc, c, personalize());
  CHECK(res.provider == "one");
  CHECK(fake.requests().size() == 2);
}

TEST_CASE("a model that never answers times out and the template is used") {
  fake_openai fake;
  fake.set_default({{"kind", "hang"}});
  asio::io_context ioc;
  auto p = provider("one", fake.base_url());
  p.timeout = 300ms;
  client c(ioc.get_executor(), config({p}));
  const auto t0 = steady::now();
  auto res = run_one(ioc, c, personalize());
  CHECK(steady::now() - t0 < 1500ms);
  CHECK(res.provider == "template");
  CHECK(res.fallback);
  CHECK(res.subject == "Votre commande");
  CHECK(res.error.find("timeout") != std::string::npos);
  CHECK(fake.requests().size() == 1); // a timeout is not retried on the same provider
  CHECK(c.stats().template_fallbacks == 1);
}

TEST_CASE("the overall deadline bounds the whole chain") {
  fake_openai a, b;
  a.set_default({{"kind", "hang"}});
  b.set_default({{"kind", "hang"}});
  asio::io_context ioc;
  auto cfg = config({provider("a", a.base_url()), provider("b", b.base_url())});
  cfg.deadline = 500ms;
  client c(ioc.get_executor(), cfg);
  const auto t0 = steady::now();
  auto res = run_one(ioc, c, personalize());
  CHECK(steady::now() - t0 < 1500ms);
  CHECK(res.provider == "template");
}

TEST_CASE("malformed JSON falls back to the second provider, then to the template") {
  fake_openai a, b;
  a.set_default({{"kind", "malformed"}});
  asio::io_context ioc;
  client c(ioc.get_executor(), config({provider("a", a.base_url()), provider("b", b.base_url())}));
  auto res = run_one(ioc, c, personalize());
  CHECK(res.provider == "b");
  CHECK(res.model == "fake-b");
  CHECK(res.fallback);
  CHECK(a.requests().size() == 1); // invalid answers are not retried on the same provider
  CHECK(c.stats().fallbacks == 1);

  b.set_default({{"kind", "missing"}});
  auto worst = run_one(ioc, c, personalize("Other"));
  CHECK(worst.provider == "template");
  CHECK(worst.fallback);
  CHECK(worst.text == personalize().text);
  CHECK(worst.error.find("a: response: not a JSON object") != std::string::npos);
  CHECK(worst.error.find("b: invalid output: text: missing") != std::string::npos);
  CHECK(c.stats().providers[1].invalid_outputs == 1);
}

TEST_CASE("answers with a placeholder, a foreign link or non-JSON content are refused") {
  for (const char* kind : {"placeholder", "link", "not_json"}) {
    CAPTURE(kind);
    fake_openai fake;
    fake.set_default({{"kind", kind}});
    asio::io_context ioc;
    client c(ioc.get_executor(), config({provider("one", fake.base_url())}));
    auto res = run_one(ioc, c, personalize());
    CHECK(res.provider == "template");
    CHECK(res.error.find("invalid output") != std::string::npos);
  }
}

TEST_CASE("the breaker opens after consecutive failures and recovers after the cool-down") {
  fake_openai fake;
  fake.set_default({{"kind", "500"}});
  asio::io_context ioc;
  auto p = provider("one", fake.base_url());
  p.max_retries = 0;
  p.breaker_failures = 2;
  p.breaker_cooldown = 400ms;
  client c(ioc.get_executor(), config({p}));
  CHECK(run_one(ioc, c, personalize("a")).provider == "template");
  CHECK(c.breaker("one") == breaker_state::closed);
  CHECK(run_one(ioc, c, personalize("b")).provider == "template");
  CHECK(c.breaker("one") == breaker_state::open);
  auto shed = run_one(ioc, c, personalize("c"));
  CHECK(shed.provider == "template");
  CHECK(shed.error.find("circuit open") != std::string::npos);
  CHECK(fake.requests().size() == 2); // no call while open
  CHECK(c.stats().providers[0].rejected_by_breaker == 1);

  fake.set_default({{"kind", "ok"}});
  st::run_until(
      ioc, [] { return false; }, 450ms); // the cool-down passes
  auto probe = run_one(ioc, c, personalize("d"));
  CHECK(probe.provider == "one");
  CHECK(c.breaker("one") == breaker_state::closed);
}

TEST_CASE("max_concurrency bounds the calls in flight to a provider") {
  fake_openai fake;
  fake.set_default({{"kind", "slow"}, {"delay_ms", 200}});
  asio::io_context ioc;
  auto p = provider("one", fake.base_url());
  p.max_concurrency = 1;
  client c(ioc.get_executor(), config({p}));
  std::vector<request> reqs{personalize("a"), personalize("b"), personalize("c")};
  int done = 0;
  std::vector<std::string> providers;
  const auto t0 = steady::now();
  for (auto& r : reqs)
    asio::co_spawn(ioc, c.run(r), [&](std::exception_ptr, result res) {
      ++done;
      providers.push_back(res.provider);
    });
  REQUIRE(st::run_until(
      ioc, [&] { return done == 3; }, 10000ms));
  CHECK(steady::now() - t0 >= 600ms); // one at a time
  CHECK(providers == std::vector<std::string>{"one", "one", "one"});
}

TEST_CASE("HTTPS with a throw-away CA; a server signed by another CA is refused") {
  pki certs;
  fake_openai fake({"--tls", certs.cert.string(), certs.key.string()});
  asio::io_context ioc;
  auto good = provider("tls", fake.base_url("https", "localhost"));
  good.ca_file = certs.ca.string();
  {
    client c(ioc.get_executor(), config({good}));
    auto res = run_one(ioc, c, personalize());
    CHECK_MESSAGE(res.provider == "tls", res.error);
    CHECK(!res.fallback);
  }
  auto wrong = good;
  wrong.ca_file = certs.other_ca.string();
  {
    client c(ioc.get_executor(), config({wrong}));
    auto res = run_one(ioc, c, personalize());
    CHECK(res.provider == "template");
    CHECK(res.error.find("certificate verify failed") != std::string::npos);
    CHECK(c.stats().providers[0].calls == 1); // a refused certificate is not retried
  }
  auto by_ip = good; // the certificate names 127.0.0.1 too
  by_ip.base_url = fake.base_url("https", "127.0.0.1");
  {
    client c(ioc.get_executor(), config({by_ip}));
    CHECK(run_one(ioc, c, personalize()).provider == "tls");
  }
}

} // namespace test_unit_ai_client_test
