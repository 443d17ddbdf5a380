// Specifies the admin server through real connections on an ephemeral loopback port: endpoints,
// tokens and roles, limits and deadlines, concurrent scrapes, stopping.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin/server.hpp"
#include "metrics/metrics.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_admin_server_test {

using namespace iaposte;
using namespace std::chrono_literals;
using admin::test::client;
using admin::test::fetch;
using admin::test::request_head;

namespace {

constexpr std::string_view read_secret = "r3ad-s3cret-0123456789";
constexpr std::string_view admin_secret = "adm1n-s3cret-9876543210";

admin::server_config test_config() {
  admin::server_config cfg;
  cfg.port = 0;
  cfg.tokens = {{"prometheus", admin::role::read, "", std::string(read_secret)},
                {"operator", admin::role::admin, "", std::string(admin_secret)}};
  cfg.read_timeout = 2s;
  cfg.write_timeout = 2s;
  return cfg;
}

// Polls `f` until it holds or the deadline passes (for effects that land on the admin thread).
template <class F> bool eventually(F f, std::chrono::milliseconds deadline = 3s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

// A file in a fresh temporary directory, removed with it.
struct temp_file {
  std::filesystem::path dir, path;
  explicit temp_file(std::string_view content) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "iaposte-admin-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    path = dir / "token";
    std::ofstream(path) << content;
  }
  ~temp_file() { std::filesystem::remove_all(dir); }
};

} // namespace

TEST_CASE("/healthz answers ok without a token, on the ephemeral port it reports") {
  admin::server srv(test_config());
  CHECK(srv.port() == 0);
  srv.start();
  REQUIRE(srv.port() != 0);
  auto r = fetch(srv.port(), "GET", "/healthz");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "ok\n");
  CHECK(r->header("content-type") == "text/plain");
  CHECK(r->header("cache-control") == "no-store");
}

TEST_CASE("/readyz is 503 while a check fails and 200 once every check passes, listing each") {
  admin::server srv(test_config());
  srv.start();
  {
    auto r = fetch(srv.port(), "GET", "/readyz"); // no check registered: nothing is missing
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  std::atomic<bool> kafka_ok{false};
  srv.add_check("kafka", [&] {
    return admin::check_result{kafka_ok.load(), kafka_ok ? "assigned 3 partitions"
                                                         : "broker 127.0.0.1:9092 unreachable"};
  });
  srv.add_check("postgres", [] { return admin::check_result{true, "pool 4/4"}; });

  auto r = fetch(srv.port(), "GET", "/readyz");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->header("content-type") == "application/json");
  auto body = nlohmann::json::parse(r->body);
  CHECK(body["ready"] == false);
  REQUIRE(body["checks"].size() == 2);
  CHECK(body["checks"][0] == nlohmann::json{{"name", "kafka"},
                                            {"ok", false},
                                            {"detail", "broker 127.0.0.1:9092 unreachable"}});
  CHECK(body["checks"][1] ==
        nlohmann::json{{"name", "postgres"}, {"ok", true}, {"detail", "pool 4/4"}});

  kafka_ok = true;
  r = fetch(srv.port(), "GET", "/readyz");
  REQUIRE(r);
  CHECK(r->status == 200);
  body = nlohmann::json::parse(r->body);
  CHECK(body["ready"] == true);
  CHECK(body["checks"][0]["detail"] == "assigned 3 partitions");

  srv.add_check("smtp", []() -> admin::check_result { throw std::runtime_error("no relay"); });
  r = fetch(srv.port(), "GET", "/readyz");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(nlohmann::json::parse(r->body)["checks"][2]["detail"] == "check failed: no relay");
}

TEST_CASE("/metrics serves the registry in text format 0.0.4, open by default") {
  metrics::registry reg;
  auto& sent = reg.counter("iaposte_messages_total", "Messages by status.", {{"status", "sent"}});
  sent.inc(41);
  admin::server srv(test_config(), &reg);
  srv.start();
  sent.inc();
  auto r = fetch(srv.port(), "GET", "/metrics");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("content-type") == "text/plain; version=0.0.4");
  CHECK(r->body == reg.render_prometheus());
  CHECK(r->body.find("iaposte_messages_total{status=\"sent\"} 42\n") != std::string::npos);
}

TEST_CASE("without a registry there is no /metrics route") {
  admin::server srv(test_config());
  srv.start();
  auto r = fetch(srv.port(), "GET", "/metrics");
  REQUIRE(r);
  CHECK(r->status == 404);
}

TEST_CASE("/metrics with metrics_require_token: 401 without or with a wrong token, 200 with read") {
  metrics::registry reg;
  reg.gauge("up_ish", "x").set(1);
  auto cfg = test_config();
  cfg.metrics_require_token = true;
  admin::server srv(cfg, &reg);
  srv.start();
  auto none = fetch(srv.port(), "GET", "/metrics");
  REQUIRE(none);
  CHECK(none->status == 401);
  CHECK(none->header("www-authenticate").starts_with("Bearer"));
  CHECK(none->body.find("up_ish") == std::string::npos);
  auto wrong = fetch(srv.port(), "GET", "/metrics", "r3ad-s3cret-0123456788");
  REQUIRE(wrong);
  CHECK(wrong->status == 401);
  auto prefix = fetch(srv.port(), "GET", "/metrics", read_secret.substr(0, 5));
  REQUIRE(prefix);
  CHECK(prefix->status == 401);
  auto reader = fetch(srv.port(), "GET", "/metrics", read_secret);
  REQUIRE(reader);
  CHECK(reader->status == 200);
  CHECK(reader->body.find("up_ish 1\n") != std::string::npos);
  auto admin_token = fetch(srv.port(), "GET", "/metrics", admin_secret); // admin includes read
  REQUIRE(admin_token);
  CHECK(admin_token->status == 200);
  // Health stays open whatever the metrics setting.
  CHECK(fetch(srv.port(), "GET", "/healthz")->status == 200);
  CHECK(fetch(srv.port(), "GET", "/readyz")->status == 200);
}

TEST_CASE("a route declared for admin: 401 without a token, 403 for read, 200 for admin") {
  admin::server srv(test_config());
  std::mutex seen_mutex;
  admin::request seen_copy;
  std::string seen_body, seen_query, seen_token, seen_path;
  srv.add_route({"POST", "/api/suppressions", admin::role::admin,
                 [&](const admin::request& req) {
                   std::lock_guard lock(seen_mutex);
                   seen_body = req.body;
                   seen_query = req.query;
                   seen_token = req.token_name;
                   seen_path = req.path;
                   return admin::response{201, "application/json", R"({"added":1})", {}};
                 },
                 "Add a suppression"});
  srv.start();
  const std::string body = R"({"address":"a@example.com"})";
  auto none = fetch(srv.port(), "POST", "/api/suppressions", {}, body);
  REQUIRE(none);
  CHECK(none->status == 401);
  auto reader = fetch(srv.port(), "POST", "/api/suppressions", read_secret, body);
  REQUIRE(reader);
  CHECK(reader->status == 403);
  {
    std::lock_guard lock(seen_mutex);
    CHECK(seen_body.empty()); // the handler never ran
  }
  auto op = fetch(srv.port(), "POST", "/api/suppressions/list-1?dry_run=1", admin_secret, body);
  REQUIRE(op);
  CHECK(op->status == 201);
  CHECK(op->body == R"({"added":1})");
  std::lock_guard lock(seen_mutex);
  CHECK(seen_body == body);
  CHECK(seen_query == "dry_run=1");
  CHECK(seen_token == "operator");
  CHECK(seen_path == "/api/suppressions/list-1");
}

TEST_CASE("routing: 404 for an unknown path, 405 with Allow for another method, 500 when a "
          "handler throws, longest prefix wins") {
  admin::server srv(test_config());
  srv.add_route({"GET", "/api", admin::role::read,
                 [](const admin::request&) {
                   return admin::response{200, "text/plain", "api", {}};
                 },
                 ""});
  srv.add_route(
      {"GET", "/api/boom", admin::role::read,
       [](const admin::request&) -> admin::response { throw std::runtime_error("handler bug"); },
       ""});
  srv.add_route(
      {"GET", "/api/split", admin::role::read,
       [](const admin::request&) {
         return admin::response{200, "text/plain", "x", {{"X-Note", "a\r\nSet-Cookie: evil=1"}}};
       },
       ""});
  CHECK_THROWS_AS(srv.add_route({"GET", "/api", admin::role::read,
                                 [](const admin::request&) { return admin::response{}; }, ""}),
                  std::invalid_argument);
  CHECK_THROWS_AS(srv.add_route({"GET", "no-slash", admin::role::read,
                                 [](const admin::request&) { return admin::response{}; }, ""}),
                  std::invalid_argument);
  CHECK_THROWS_AS(srv.add_route({"GET", "/x", admin::role::read, nullptr, ""}),
                  std::invalid_argument);
  srv.start();
  CHECK(fetch(srv.port(), "GET", "/nothing-here")->status == 404);
  CHECK(fetch(srv.port(), "GET", "/apix", read_secret)->status == 404); // not below /api
  CHECK(fetch(srv.port(), "GET", "/healthz/extra")->status == 404);     // built-ins are exact
  auto api = fetch(srv.port(), "GET", "/api/v1/anything", read_secret);
  REQUIRE(api);
  CHECK(api->status == 200);
  CHECK(api->body == "api");
  auto boom = fetch(srv.port(), "GET", "/api/boom/now", read_secret);
  REQUIRE(boom);
  CHECK(boom->status == 500);
  CHECK(boom->body.find("handler bug") == std::string::npos); // not leaked to the client
  auto split = fetch(srv.port(), "GET", "/api/split", read_secret);
  REQUIRE(split);
  CHECK(split->status == 500); // a header value with CRLF is never sent
  CHECK(split->header("set-cookie").empty());
  auto post = fetch(srv.port(), "POST", "/healthz");
  REQUIRE(post);
  CHECK(post->status == 405);
  CHECK(post->header("allow") == "GET");
}

TEST_CASE("/openapi.json describes the built-in endpoints and the routes added, for read") {
  metrics::registry reg;
  admin::server srv(test_config(), &reg);
  srv.add_route({"DELETE", "/api/templates", admin::role::admin,
                 [](const admin::request&) {
                   return admin::response{204, "text/plain", "", {}};
                 },
                 "Delete a template"});
  srv.start();
  CHECK(fetch(srv.port(), "GET", "/openapi.json")->status == 401);
  auto r = fetch(srv.port(), "GET", "/openapi.json", read_secret);
  REQUIRE(r);
  CHECK(r->status == 200);
  auto doc = nlohmann::json::parse(r->body);
  CHECK(doc["openapi"].get<std::string>().starts_with("3."));
  for (const char* p : {"/healthz", "/readyz", "/metrics", "/openapi.json"})
    CHECK_MESSAGE(doc["paths"].contains(p), p);
  CHECK(doc["paths"]["/readyz"]["get"]["responses"].contains("503"));
  auto& del = doc["paths"]["/api/templates"]["delete"];
  CHECK(del["summary"] == "Delete a template");
  CHECK(del["x-required-role"] == "admin");
  CHECK(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
  auto deleted = fetch(srv.port(), "DELETE", "/api/templates/welcome", admin_secret);
  REQUIRE(deleted);
  CHECK(deleted->status == 204);
}

TEST_CASE("tokens are read from files, trailing newline ignored; bad token files fail at start-up "
          "without quoting the secret") {
  temp_file good("from-a-file-secret\n");
  auto cfg = test_config();
  cfg.metrics_require_token = true;
  cfg.tokens = {{"filed", admin::role::read, good.path.string(), ""}};
  metrics::registry reg;
  admin::server srv(cfg, &reg);
  srv.start();
  CHECK(fetch(srv.port(), "GET", "/metrics", "from-a-file-secret")->status == 200);
  CHECK(fetch(srv.port(), "GET", "/metrics", "from-a-file-secre")->status == 401);

  auto missing = test_config();
  missing.tokens = {{"ghost", admin::role::read, (good.dir / "absent").string(), ""}};
  try {
    admin::server bad(missing);
    FAIL("a missing token file was accepted");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("ghost") != std::string::npos);
  }
  temp_file empty("\n");
  auto blank = test_config();
  blank.tokens = {{"blank", admin::role::read, empty.path.string(), ""}};
  CHECK_THROWS_AS(admin::server{blank}, std::runtime_error);
  auto shared = test_config();
  shared.tokens = {{"a", admin::role::read, "", "same-secret-value"},
                   {"b", admin::role::admin, "", "same-secret-value"}};
  try {
    admin::server bad(shared);
    FAIL("two tokens sharing a secret were accepted");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("same-secret-value") == std::string::npos);
  }
}

TEST_CASE("keep-alive: several requests on one connection") {
  admin::server srv(test_config());
  srv.start();
  client c(srv.port());
  for (int i = 0; i < 5; ++i) {
    auto r = c.request("GET", "/healthz");
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  // Connection: close is honoured: the answer, then the end of the connection.
  REQUIRE(c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  auto last = c.receive();
  REQUIRE(last);
  CHECK(last->status == 200);
  CHECK(c.closed_within(2s));
}

TEST_CASE("oversize header → 431, oversize body → 413, garbage → 400, and the connection closes") {
  auto cfg = test_config();
  cfg.max_header_bytes = 1024;
  cfg.max_body_bytes = 100;
  admin::server srv(cfg);
  srv.add_route({"POST", "/api/echo", admin::role::none,
                 [](const admin::request& req) {
                   return admin::response{200, "text/plain", std::string(req.body), {}};
                 },
                 ""});
  srv.start();
  {
    client c(srv.port());
    REQUIRE(c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: " + std::string(4000, 'a') +
                   "\r\n\r\n"));
    auto r = c.receive();
    REQUIRE(r);
    CHECK(r->status == 431);
    CHECK(c.closed_within(3s));
  }
  {
    client c(srv.port()); // within the limit: served
    auto r = c.request("POST", "/api/echo", {}, std::string(100, 'b'));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.size() == 100);
  }
  {
    client c(srv.port());
    REQUIRE(c.send(request_head("POST", "/api/echo", {}, 5000) + std::string(5000, 'b')));
    auto r = c.receive();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(c.closed_within(3s));
  }
  {
    client c(srv.port());
    REQUIRE(c.send("NOT HTTP AT ALL\r\n\r\n"));
    auto r = c.receive();
    REQUIRE(r);
    CHECK(r->status == 400);
  }
}

TEST_CASE("a client that sends part of a request and stalls is cut off after the read timeout") {
  auto cfg = test_config();
  cfg.read_timeout = 300ms;
  admin::server srv(cfg);
  srv.start();
  client slow(srv.port());
  const auto begin = std::chrono::steady_clock::now();
  REQUIRE(slow.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")); // no blank line: never complete
  CHECK(slow.closed_within(3s));
  const auto took = std::chrono::steady_clock::now() - begin;
  CHECK(took >= 250ms);
  // An idle keep-alive connection is closed by the same deadline.
  client idle(srv.port());
  REQUIRE(idle.request("GET", "/healthz"));
  CHECK(idle.closed_within(3s));
  // Others are served meanwhile.
  CHECK(fetch(srv.port(), "GET", "/healthz")->status == 200);
}

TEST_CASE("connections over max_connections get 503 at once; a freed slot is reused") {
  auto cfg = test_config();
  cfg.max_connections = 2;
  admin::server srv(cfg);
  srv.start();
  auto a = std::make_unique<client>(srv.port());
  client b(srv.port());
  REQUIRE(a->request("GET", "/healthz")); // both accepted and counted
  REQUIRE(b.request("GET", "/healthz"));
  {
    client c(srv.port());
    auto r = c.receive();
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK(c.closed_within(2s));
  }
  a.reset(); // the server sees the end of `a` asynchronously
  CHECK(eventually([&] {
    client d(srv.port());
    auto r = d.request("GET", "/healthz");
    return r && r->status == 200;
  }));
  CHECK(b.request("GET", "/healthz")->status == 200);
}

TEST_CASE("concurrent scrapes while counters increment: every scrape parses, values only grow, "
          "the last one is exact") {
  metrics::registry reg;
  auto& hits = reg.counter("hits_total", "x");
  auto& lat = reg.histogram("lat_seconds", "x", metrics::latency_buckets());
  admin::server srv(test_config(), &reg);
  srv.start();
  constexpr int incrementers = 3, per_thread = 200000, scrapers = 3, scrapes = 40;
  std::atomic<int> failures{0};
  auto value_in = [](const std::string& text, const std::string& name) {
    auto at = text.find("\n" + name + " ");
    if (at == std::string::npos) return -1.0;
    return std::stod(text.substr(at + name.size() + 2));
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < incrementers; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        hits.inc();
        lat.observe(0.02);
      }
    });
  for (int t = 0; t < scrapers; ++t)
    threads.emplace_back([&] {
      client c(srv.port());
      double last = -1;
      for (int i = 0; i < scrapes; ++i) {
        auto r = c.request("GET", "/metrics");
        if (!r || r->status != 200) {
          ++failures;
          return;
        }
        double v = value_in(r->body, "hits_total");
        double count = value_in(r->body, "lat_seconds_count");
        if (v < last || v < 0 || count < 0) ++failures;
        last = v;
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(failures == 0);
  auto r = fetch(srv.port(), "GET", "/metrics");
  REQUIRE(r);
  CHECK(value_in(r->body, "hits_total") == incrementers * per_thread);
  CHECK(value_in(r->body, "lat_seconds_count") == incrementers * per_thread);
}

TEST_CASE("stop() closes the listener and connected clients, and returns promptly") {
  auto cfg = test_config();
  cfg.read_timeout = 30s; // stop must not wait for the deadlines
  admin::server srv(cfg);
  srv.start();
  const auto port = srv.port();
  client idle(port);
  REQUIRE(idle.request("GET", "/healthz")); // kept alive, waiting for the next request
  client partial(port);
  REQUIRE(partial.send("GET /readyz HTTP/1.1\r\n"));
  client silent(port);
  // Let the server accept all three before stopping.
  REQUIRE(fetch(port, "GET", "/healthz"));
  const auto begin = std::chrono::steady_clock::now();
  srv.stop();
  CHECK(std::chrono::steady_clock::now() - begin < 2s);
  CHECK(idle.closed_within(2s));
  CHECK(partial.closed_within(2s));
  CHECK(silent.closed_within(2s));
  CHECK_THROWS(client{port}); // refused: nobody listens any more
  srv.stop();                 // idempotent
}

TEST_CASE("start-up: a taken port or a bad address throws; a disabled server does not listen") {
  admin::server first(test_config());
  first.start();
  auto same = test_config();
  same.port = first.port();
  admin::server second(same);
  CHECK_THROWS_AS(second.start(), std::runtime_error);
  auto bad = test_config();
  bad.address = "localhost"; // an IP literal is required
  admin::server third(bad);
  CHECK_THROWS_AS(third.start(), std::runtime_error);
  auto off = test_config();
  off.enabled = false;
  admin::server fourth(off);
  fourth.start();
  CHECK(fourth.port() == 0);
}

} // namespace test_unit_admin_server_test
