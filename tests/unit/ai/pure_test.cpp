// The AI client's pure parts: output validation, links, tone lexicon, cache key, LRU,
// breaker state machine, base URLs and Retry-After.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "ai/breaker.hpp"
#include "ai/cache.hpp"
#include "ai/http.hpp"
#include "ai/prompt.hpp"
#include "ai/tone.hpp"
#include "ai/validate.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_ai_pure_test {

using namespace iaposte::ai;
using namespace iaposte::ai::detail;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {
std::string answer(json j) {
  return j.dump();
}
const limits lim{50, 200, 400};
} // namespace

TEST_CASE("a well-formed answer is accepted with its sentiment") {
  auto c = check_output(answer({{"subject", "Hello"},
                                {"text", "Body\nline"},
                                {"html", "<p>Body</p>"},
                                {"sentiment", {{"label", "negative"}, {"score", -0.5}}}}),
                        lim, std::nullopt);
  REQUIRE_MESSAGE(c.value, c.error);
  CHECK(c.value->subject == "Hello");
  CHECK(c.value->html == "<p>Body</p>");
  REQUIRE(c.value->sentiment);
  CHECK(c.value->sentiment->label == "negative");
  CHECK(c.value->sentiment->source == "model");
}

TEST_CASE("a JSON answer inside a Markdown fence is accepted") {
  auto c = check_output("```json\n{\"subject\":\"S\",\"text\":\"T\"}\n```", lim, std::nullopt);
  CHECK_MESSAGE(c.value, c.error);
}

TEST_CASE("invalid answers are refused, each with its reason") {
  auto err = [](const std::string& a) { return check_output(a, lim, std::nullopt).error; };
  CHECK(err("not json") == "answer: not JSON");
  CHECK(err("[1,2]") == "answer: not a JSON object");
  CHECK(err(answer({{"text", "T"}})) == "subject: missing");
  CHECK(err(answer({{"subject", "S"}})) == "text: missing");
  CHECK(err(answer({{"subject", "S"}, {"text", 3}})) == "text: not a string");
  CHECK(err(answer({{"subject", ""}, {"text", "T"}})) == "subject: empty");
  CHECK(err(answer({{"subject", std::string(51, 'x')}, {"text", "T"}})) == "subject: too long");
  CHECK(err(answer({{"subject", "S"}, {"text", std::string(201, 'x')}})) == "text: too long");
  CHECK(err(answer({{"subject", "S\r\nBcc: x@y"}, {"text", "T"}})) == "subject: control character");
  CHECK(err(answer({{"subject", "S\tT"}, {"text", "T"}})) == "subject: control character");
  CHECK(err(answer({{"subject", "S"}, {"text", std::string("a\0b", 3)}})) ==
        "text: control character");
  CHECK(err(answer({{"subject", "Hi {{first_name}}"}, {"text", "T"}})) == "unresolved placeholder");
  CHECK(err(answer({{"subject", "S"}, {"text", "T"}, {"html", "<p>}}</p>"}})) ==
        "unresolved placeholder");
}

TEST_CASE("an invalid sentiment is dropped, not fatal") {
  auto c = check_output(
      answer({{"subject", "S"}, {"text", "T"}, {"sentiment", {{"label", "angry"}, {"score", 3}}}}),
      lim, std::nullopt);
  REQUIRE(c.value);
  CHECK(!c.value->sentiment);
}

TEST_CASE("links must come from the allowed set when one is given") {
  const std::vector<std::string> allowed{"https://shop.example/a?x=1&y=2"};
  auto ok =
      check_output(answer({{"subject", "S"},
                           {"text", "See https://shop.example/a?x=1&y=2."},
                           {"html", "<a href=\"https://shop.example/a?x=1&amp;y=2\">here</a>"}}),
                   lim, allowed);
  CHECK_MESSAGE(ok.value, ok.error);
  auto bad = check_output(answer({{"subject", "S"}, {"text", "Go to https://evil.example/x"}}), lim,
                          allowed);
  CHECK(bad.error == "link not allowed: https://evil.example/x");
  auto unchecked = check_output(answer({{"subject", "S"}, {"text", "https://evil.example/x"}}), lim,
                                std::nullopt);
  CHECK(unchecked.value);
}

TEST_CASE("personalize allows the input's links; generate checks only a given list") {
  request r;
  r.kind = mode::personalize;
  r.text = "Votre facture: https://pay.example/inv/42 (merci)";
  auto a = allowed_links(r);
  REQUIRE(a);
  CHECK(*a == std::vector<std::string>{"https://pay.example/inv/42"});
  r.kind = mode::generate;
  CHECK(!allowed_links(r));
  r.allowed_links = {"https://x.example/"};
  CHECK(allowed_links(r));
}

TEST_CASE("the lexicon labels French and English, with negation") {
  CHECK(analyse_tone("Merci, nous sommes ravis de vous accueillir !").label == "positive");
  CHECK(analyse_tone("Thank you, this is a great offer").label == "positive");
  CHECK(analyse_tone("Votre facture est disponible.").label == "neutral");
  CHECK(analyse_tone("Dernier avertissement : impayé, poursuites et pénalités.").label ==
        "negative");
  CHECK(analyse_tone("This is unacceptable, a terrible failure").label == "negative");
  CHECK(analyse_tone("Je ne suis pas content").label == "negative");
  CHECK(analyse_tone("This is not good").score < 0);
  CHECK(analyse_tone("Ce n'est pas un problème").score > 0);
  auto s = analyse_tone("excellent excellent excellent excellent excellent excellent");
  CHECK(s.score <= 1.0);
  CHECK(s.score > 0.9);
  CHECK(s.source == "lexicon");
}

TEST_CASE("the cache key depends on provider, model, messages and parameters") {
  provider_config p;
  p.name = "a";
  p.model = "m1";
  request r;
  r.subject = "S";
  r.text = "T";
  r.contact = {{"first_name", "Ana"}};
  auto msgs = messages(r, std::nullopt);
  const auto k = cache_key(p, request_body(p, msgs));
  CHECK(k.size() == 64);
  CHECK(k == cache_key(p, request_body(p, messages(r, std::nullopt))));
  auto q = p;
  q.name = "b";
  CHECK(k != cache_key(q, request_body(q, msgs)));
  q = p;
  q.model = "m2";
  CHECK(k != cache_key(q, request_body(q, msgs)));
  q = p;
  q.temperature = 0.9;
  CHECK(k != cache_key(q, request_body(q, msgs)));
  auto r2 = r;
  r2.contact["first_name"] = "Bob";
  CHECK(k != cache_key(p, request_body(p, messages(r2, std::nullopt))));
  style_profile st{"t", "", "warm", "tu", "fr", "Bises"};
  CHECK(k != cache_key(p, request_body(p, messages(r, st))));
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("the style profile is in the system prompt") {
  style_profile st{"t", "", "chaleureux", "vous", "fr", "Cordialement, l'équipe"};
  auto s = system_prompt(mode::personalize, st);
  CHECK(s.find("Tone: chaleureux") != std::string::npos);
  CHECK(s.find("\"vous\"") != std::string::npos);
  CHECK(s.find("language: fr") != std::string::npos);
  CHECK(s.find("Cordialement, l'équipe") != std::string::npos);
  CHECK(request_body(provider_config{}, json::array())["response_format"]["type"] == "json_object");
}

TEST_CASE("the LRU evicts the least recently used and expires by TTL") {
  lru_cache c(2);
  const auto t0 = lru_cache::clock::now();
  c.put("a", "1", t0 + 10s);
  c.put("b", "2", t0 + 10s);
  CHECK(c.get("a", t0) == "1"); // a is now the most recent
  c.put("c", "3", t0 + 10s);    // evicts b
  CHECK(!c.get("b", t0));
  CHECK(c.get("a", t0) == "1");
  CHECK(c.get("c", t0) == "3");
  CHECK(!c.get("a", t0 + 10s)); // expired
  CHECK(c.size() == 1);
  lru_cache small(100, 10); // bytes: key + value
  small.put("k1", "1234", t0 + 10s);
  small.put("k2", "5678", t0 + 10s); // 12 bytes > 10: k1 goes
  CHECK(!small.get("k1", t0));
  CHECK(small.get("k2", t0) == "5678");
  CHECK(small.bytes() == 6);
  small.put("big", std::string(20, 'x'), t0 + 10s); // larger than the bound: not kept
  CHECK(small.get("k2", t0) == "5678");
  lru_cache off(0);
  off.put("a", "1", t0 + 10s);
  CHECK(!off.get("a", t0));
}

TEST_CASE("the breaker opens after N failures, half-opens after the cool-down, closes on success") {
  breaker b(3, 1000ms);
  const auto t0 = breaker::clock::now();
  CHECK(b.allow(t0));
  b.failure(t0);
  b.failure(t0);
  b.success(); // a success resets the count
  b.failure(t0);
  b.failure(t0);
  CHECK(b.state() == breaker_state::closed);
  b.failure(t0);
  CHECK(b.state() == breaker_state::open);
  CHECK(!b.allow(t0 + 999ms));
  CHECK(b.allow(t0 + 1000ms)); // the probe
  CHECK(b.state() == breaker_state::half_open);
  CHECK(!b.allow(t0 + 1000ms)); // one probe at a time
  b.failure(t0 + 1100ms);       // probe failed: open again, new cool-down
  CHECK(b.state() == breaker_state::open);
  CHECK(!b.allow(t0 + 2000ms));
  CHECK(b.allow(t0 + 2100ms));
  b.success();
  CHECK(b.state() == breaker_state::closed);
  CHECK(b.allow(t0 + 2100ms));
}

TEST_CASE("base URLs and Retry-After are parsed") {
  std::string err;
  auto e = parse_base_url("https://api.openai.com/v1/", err);
  REQUIRE(e);
  CHECK(e->tls);
  CHECK(e->host == "api.openai.com");
  CHECK(e->port == 443);
  CHECK(e->path == "/v1");
  e = parse_base_url("http://[::1]:8080", err);
  REQUIRE(e);
  CHECK(e->host == "::1");
  CHECK(e->port == 8080);
  CHECK(e->path.empty());
  CHECK(!parse_base_url("ftp://x", err));
  CHECK(!parse_base_url("http://u:p@x/", err));
  CHECK(!parse_base_url("http://x:99999/", err));
  CHECK(parse_retry_after("2", "") == 2000ms);
  CHECK(parse_retry_after("0.5", "") == 500ms);
  CHECK(parse_retry_after("2", "150") == 150ms);
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", "") == 0ms);
  CHECK(!parse_retry_after("soon", ""));
}

TEST_CASE("a chat completion envelope is read, usage included") {
  auto c = parse_completion(
      R"({"choices":[{"message":{"role":"assistant","content":"{}"}}],"usage":{"prompt_tokens":12,"completion_tokens":5}})");
  REQUIRE(c.content);
  CHECK(c.tokens_in == 12);
  CHECK(c.tokens_out == 5);
  CHECK(parse_completion("{\"choices\":[]}").error == "response: no choices");
  CHECK(parse_completion("{").error == "response: not a JSON object");
}

} // namespace test_unit_ai_pure_test
