// Specifies the unsubscribe routes through the real admin server on an ephemeral loopback port:
// GET shows a page and never writes, the one-click POST records exactly one suppression, bad
// tokens and bad bodies write nothing, a slow or failing store gives 503 with Retry-After.
#include <doctest/doctest.h>

#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "../admin/support.hpp"
#include "admin/server.hpp"
#include "unsubscribe/routes.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_unsubscribe_routes_test {

using namespace iaposte;
using namespace std::chrono_literals;
using admin::test::client;
using admin::test::fetch;
using admin::test::reply;

namespace {

const std::string secret = "routes-test-secret-0123456789abcdefghij";
const std::string read_token = "r3ad-t0ken-for-openapi-0123";
const unsubscribe::subscription helene{"acme", "helene@exemple.fr", "newsletter"};
const std::string bullet = "\u2022\u2022\u2022";

// A suppress function that records what it is given and answers as the test decides.
class recorder {
public:
  enum class mode { ok, ok_from_thread, error, never, raise };

  explicit recorder(mode m = mode::ok) : mode_(m) {}
  ~recorder() {
    for (auto& t : threads_)
      t.join();
  }

  unsubscribe::suppress_fn fn() {
    return [this](store::suppression s, unsubscribe::suppress_done done) {
      std::lock_guard lock(mutex_);
      calls_.push_back(s);
      switch (mode_) {
      case mode::ok:
        done("");
        break;
      case mode::ok_from_thread:
        threads_.emplace_back([done] { done(""); });
        break;
      case mode::error:
        done("content look-up stopped");
        break;
      case mode::never:
        late_.push_back(std::move(done));
        break;
      case mode::raise:
        throw std::runtime_error("queue full");
      }
    };
  }

  std::vector<store::suppression> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  // Answers the callbacks held back (mode::never), after the handler gave up on them.
  void answer_late() {
    std::lock_guard lock(mutex_);
    for (auto& d : late_)
      d("");
    late_.clear();
  }

private:
  mode mode_;
  mutable std::mutex mutex_;
  std::vector<store::suppression> calls_;
  std::vector<unsubscribe::suppress_done> late_;
  std::vector<std::thread> threads_;
};

admin::server_config server_config() {
  admin::server_config cfg;
  cfg.port = 0;
  cfg.tokens = {{"reader", admin::role::read, "", read_token}};
  cfg.read_timeout = 5s;
  cfg.write_timeout = 5s;
  return cfg;
}

unsubscribe::config unsub_config() {
  unsubscribe::config c;
  c.secret_files = {"unused"};
  c.base_url = "https://mail.example.org/unsubscribe/";
  c.mailto = "unsubscribe@example.org";
  c.retry_after = 120s;
  return c;
}

// A started admin server with the unsubscribe routes.
struct fixture {
  recorder rec;
  unsubscribe::secret_set secrets{{secret}};
  admin::server server{server_config()};
  std::string token = unsubscribe::signer(secrets).encode(helene);

  explicit fixture(recorder::mode m = recorder::mode::ok, unsubscribe::config c = unsub_config())
      : rec(m) {
    unsubscribe::add_routes(server, unsubscribe::verifier(secrets), rec.fn(), c);
    server.start();
  }
  ~fixture() { server.stop(); } // before the recorder goes
};

std::optional<reply> post(std::uint16_t port, const std::string& target,
                          const std::string& content_type, const std::string& body,
                          const std::string& extra_headers = "") {
  client c(port);
  std::string head = "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!content_type.empty()) head += "Content-Type: " + content_type + "\r\n";
  head += extra_headers;
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  if (!c.send(head + body)) return std::nullopt;
  return c.receive();
}

const std::string form = "application/x-www-form-urlencoded";
const std::string one_click = "List-Unsubscribe=One-Click";

void check_page_headers(const reply& r) {
  CHECK(r.header("content-type") == "text/html; charset=utf-8");
  CHECK(r.header("cache-control") == "no-store");
  CHECK(r.header("referrer-policy") == "no-referrer");
  CHECK(r.header("content-security-policy").starts_with("default-src 'none';"));
  CHECK(r.header("x-robots-tag") == "noindex, nofollow");
}

} // namespace

TEST_CASE("GET shows a confirmation page that posts the one-click body, and writes nothing") {
  fixture f;
  auto r = fetch(f.server.port(), "GET", "/unsubscribe/" + f.token);
  REQUIRE(r);
  CHECK(r->status == 200);
  check_page_headers(*r);
  CHECK(r->body.find("<html lang=\"fr\">") != std::string::npos);
  CHECK(r->body.find("<form method=\"post\">") != std::string::npos);
  CHECK(r->body.find("<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">") !=
        std::string::npos);
  // French first, English after.
  CHECK(r->body.find("Se désinscrire") < r->body.find("lang=\"en\""));
  // The address masked, never in clear; nothing loaded from elsewhere, no script.
  CHECK(r->body.find("h" + bullet + "@exemple.fr") != std::string::npos);
  CHECK(r->body.find("helene") == std::string::npos);
  CHECK(r->body.find("<script") == std::string::npos);
  CHECK(r->body.find("src=") == std::string::npos);
  CHECK(r->body.find("href=") == std::string::npos);
  // Asked again, still nothing written.
  REQUIRE(fetch(f.server.port(), "GET", "/unsubscribe/" + f.token));
  CHECK(f.rec.calls().empty());
}

TEST_CASE("POST with List-Unsubscribe=One-Click records exactly one unsubscribe of that tenant, "
          "address and list") {
  fixture f;
  auto r = post(f.server.port(), "/unsubscribe/" + f.token, form, one_click);
  REQUIRE(r);
  CHECK(r->status == 200);
  check_page_headers(*r);
  CHECK(r->body.find("C'est fait") != std::string::npos);
  CHECK(r->body.find("helene") == std::string::npos);
  const auto calls = f.rec.calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].tenant == "acme");
  CHECK(calls[0].address == "helene@exemple.fr");
  CHECK(calls[0].list == "newsletter");
  CHECK(calls[0].reason == store::suppression_reason::unsubscribe);
  CHECK(calls[0].note == "one-click unsubscribe (RFC 8058)");
}

TEST_CASE("the confirmation page's form, submitted as a browser does, unsubscribes") {
  fixture f;
  auto page = fetch(f.server.port(), "GET", "/unsubscribe/" + f.token);
  REQUIRE(page);
  // The hidden input's name and value, URL-encoded as a browser would (nothing to encode).
  const auto at = page->body.find("<input type=\"hidden\"");
  REQUIRE(at != std::string::npos);
  auto attr = [&](const std::string& name) {
    const auto s = page->body.find(name + "=\"", at) + name.size() + 2;
    return page->body.substr(s, page->body.find('"', s) - s);
  };
  auto r = post(f.server.port(), "/unsubscribe/" + f.token, form,
                attr("name") + "=" + attr("value"), "Origin: null\r\n");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(f.rec.calls().size() == 1);
}

TEST_CASE("POST as multipart/form-data (RFC 8058's preferred form) is accepted too") {
  fixture f;
  auto r = post(f.server.port(), "/unsubscribe/" + f.token,
                "multipart/form-data; boundary=------------------------d74496d66958873e",
                "--------------------------d74496d66958873e\r\n"
                "Content-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
                "One-Click\r\n"
                "--------------------------d74496d66958873e--\r\n");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(f.rec.calls().size() == 1);
}

TEST_CASE("a second POST answers 200 again (the store makes it idempotent)") {
  fixture f;
  for (int i = 0; i < 2; ++i) {
    auto r = post(f.server.port(), "/unsubscribe/" + f.token, form, one_click);
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(f.rec.calls().size() == 2);
}

TEST_CASE("a forged, altered or foreign token is 400 and records nothing, on GET and POST") {
  fixture f;
  std::string altered = f.token;
  altered[10] = altered[10] == 'A' ? 'B' : 'A';
  const auto foreign =
      unsubscribe::signer(unsubscribe::secret_set({std::string(40, 'z')})).encode(helene);
  for (const std::string& bad :
       {altered, foreign, std::string("not-a-token"), std::string("%41")}) {
    CAPTURE(bad);
    auto g = fetch(f.server.port(), "GET", "/unsubscribe/" + bad);
    REQUIRE(g);
    CHECK(g->status == 400);
    CHECK(g->body.find("Lien non valide") != std::string::npos);
    auto p = post(f.server.port(), "/unsubscribe/" + bad, form, one_click);
    REQUIRE(p);
    CHECK(p->status == 400);
    check_page_headers(*p);
  }
  CHECK(f.rec.calls().empty());
}

TEST_CASE("the prefix alone, or a path below the token, is 404") {
  fixture f;
  for (const std::string& path : {std::string("/unsubscribe"), std::string("/unsubscribe/"),
                                  "/unsubscribe/" + f.token + "/x"}) {
    CAPTURE(path);
    auto g = fetch(f.server.port(), "GET", path);
    REQUIRE(g);
    CHECK(g->status == 404);
    auto p = post(f.server.port(), path, form, one_click);
    REQUIRE(p);
    CHECK(p->status == 404);
  }
  CHECK(f.rec.calls().empty());
}

TEST_CASE("a query string after the token is ignored (some providers add tracking)") {
  fixture f;
  auto r = post(f.server.port(), "/unsubscribe/" + f.token + "?utm_source=x", form, one_click);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(f.rec.calls().size() == 1);
}

TEST_CASE("a POST that is not a one-click form is refused and records nothing: 415 for another "
          "content type, 400 for a form without the pair") {
  fixture f;
  const std::string target = "/unsubscribe/" + f.token;
  auto plain = post(f.server.port(), target, "text/plain", one_click);
  REQUIRE(plain);
  CHECK(plain->status == 415);
  CHECK(plain->header("accept-post") == "application/x-www-form-urlencoded, multipart/form-data");
  auto none = post(f.server.port(), target, "", one_click);
  REQUIRE(none);
  CHECK(none->status == 415);
  auto json = post(f.server.port(), target, "application/json", R"({"List-Unsubscribe":1})");
  REQUIRE(json);
  CHECK(json->status == 415);
  auto empty = post(f.server.port(), target, form, "");
  REQUIRE(empty);
  CHECK(empty->status == 400);
  CHECK(empty->body.find("empty body") != std::string::npos);
  auto other = post(f.server.port(), target, form, "List-Unsubscribe=Later");
  REQUIRE(other);
  CHECK(other->status == 400);
  CHECK(f.rec.calls().empty());
}

TEST_CASE("methods other than GET and POST are 405 with Allow") {
  fixture f;
  auto r = fetch(f.server.port(), "PUT", "/unsubscribe/" + f.token, {}, one_click);
  REQUIRE(r);
  CHECK(r->status == 405);
  CHECK(r->header("allow") == "GET, POST");
  CHECK(f.rec.calls().empty());
}

TEST_CASE("the routes are open although the server has tokens: the unsubscribe token is the "
          "credential") {
  fixture f;
  auto r = post(f.server.port(), "/unsubscribe/" + f.token, form, one_click);
  REQUIRE(r);
  CHECK(r->status == 200);
  // While the management routes still want a token.
  auto doc = fetch(f.server.port(), "GET", "/openapi.json");
  REQUIRE(doc);
  CHECK(doc->status == 401);
}

TEST_CASE("the OpenAPI document describes both routes") {
  fixture f;
  auto r = fetch(f.server.port(), "GET", "/openapi.json", read_token);
  REQUIRE(r);
  REQUIRE(r->status == 200);
  const auto doc = nlohmann::json::parse(r->body);
  const auto& path = doc["paths"]["/unsubscribe/{token}"];
  CHECK(path["get"]["security"] == nlohmann::json::array());
  CHECK(path["post"]["security"] == nlohmann::json::array());
  CHECK(path["post"]["responses"].contains("200"));
  CHECK(path["post"]["responses"].contains("400"));
  CHECK(path["post"]["responses"].contains("415"));
  CHECK(path["post"]["responses"].contains("503"));
}

TEST_CASE("a store answering from another thread is waited for") {
  fixture f(recorder::mode::ok_from_thread);
  auto r = post(f.server.port(), "/unsubscribe/" + f.token, form, one_click);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(f.rec.calls().size() == 1);
}

TEST_CASE("a store that reports an error gives 503 with Retry-After") {
  fixture f(recorder::mode::error);
  auto r = post(f.server.port(), "/unsubscribe/" + f.token, form, one_click);
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->header("retry-after") == "120");
  CHECK(r->body.find("Réessayez") != std::string::npos);
}

TEST_CASE("a store that throws gives 503 with Retry-After") {
  fixture f(recorder::mode::raise);
  auto r = post(f.server.port(), "/unsubscribe/" + f.token, form, one_click);
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->header("retry-after") == "120");
}

TEST_CASE("a store that does not answer within store_timeout gives 503 with Retry-After, and its "
          "late answer harms nothing") {
  auto c = unsub_config();
  c.store_timeout = 100ms;
  fixture f(recorder::mode::never, c);
  auto r = post(f.server.port(), "/unsubscribe/" + f.token, form, one_click);
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->header("retry-after") == "120");
  CHECK(f.rec.calls().size() == 1);
  f.rec.answer_late();
  // The admin thread serves on.
  auto h = fetch(f.server.port(), "GET", "/healthz");
  REQUIRE(h);
  CHECK(h->status == 200);
}

TEST_CASE("the prefix is configurable") {
  auto c = unsub_config();
  c.path_prefix = "/mail/u";
  fixture f(recorder::mode::ok, c);
  auto old = fetch(f.server.port(), "GET", "/unsubscribe/" + f.token);
  REQUIRE(old);
  CHECK(old->status == 404);
  auto r = post(f.server.port(), "/mail/u/" + f.token, form, one_click);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(f.rec.calls().size() == 1);
}

TEST_CASE("add_routes refuses an empty suppress function, a bad prefix and a second "
          "registration") {
  admin::server server(server_config());
  const unsubscribe::verifier v(unsubscribe::secret_set({secret}));
  recorder rec;
  CHECK_THROWS_WITH_AS(unsubscribe::add_routes(server, v, {}, unsub_config()),
                       "unsubscribe routes: empty suppress function", std::invalid_argument);
  auto c = unsub_config();
  c.path_prefix = "unsubscribe";
  CHECK_THROWS_WITH_AS(unsubscribe::add_routes(server, v, rec.fn(), c),
                       "unsubscribe.path_prefix: \"unsubscribe\": must start with '/'",
                       std::invalid_argument);
  unsubscribe::add_routes(server, v, rec.fn(), unsub_config());
  CHECK_THROWS_AS(unsubscribe::add_routes(server, v, rec.fn(), unsub_config()),
                  std::invalid_argument);
}

} // namespace test_unit_unsubscribe_routes_test
