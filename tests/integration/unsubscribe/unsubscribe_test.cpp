// One-click unsubscribe end to end against the stack's PostgreSQL: a POST to the real admin
// server writes through store::content_lookup::suppress, and content_store reads the entry back.
#include <doctest/doctest.h>

#include <random>

#include <pqxx/pqxx>

#include "../../unit/admin/support.hpp"
#include "admin/server.hpp"
#include "pg.hpp"
#include "store/content.hpp"
#include "store/content_lookup.hpp"
#include "unsubscribe/routes.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_unsubscribe_unsubscribe_test {

using namespace iaposte;
using namespace iaposte::testing;
using admin::test::client;
using admin::test::reply;
using store::mail_category;
using store::suppression_reason;

namespace {

const std::string secret = "integration-unsubscribe-secret-0123456789";

std::optional<reply> post_one_click(std::uint16_t port, const std::string& target) {
  client c(port);
  const std::string body = "List-Unsubscribe=One-Click";
  const std::string head = "POST " + target +
                           " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Type: application/x-www-form-urlencoded\r\n"
                           "Content-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  if (!c.send(head + body)) return std::nullopt;
  return c.receive(std::chrono::seconds(10));
}

void migrate(const std::string& url) {
  store::store_config cfg;
  cfg.url = url;
  store::store s(cfg);
  s.migrate();
}

// The daemon's wiring: the admin server's routes write through a content_lookup.
struct endpoint {
  store::content_lookup lookup;
  unsubscribe::secret_set secrets{{secret}};
  admin::server server{[] {
    admin::server_config c;
    c.port = 0;
    return c;
  }()};

  explicit endpoint(const std::string& url, std::chrono::milliseconds store_timeout = 5s)
      : lookup([&] {
          store::content_lookup_config c;
          c.url = url;
          c.retry_interval = 100ms;
          return c;
        }()) {
    lookup.start();
    unsubscribe::config cfg;
    cfg.store_timeout = store_timeout;
    cfg.retry_after = std::chrono::seconds(30);
    unsubscribe::add_routes(
        server, unsubscribe::verifier(secrets),
        [this](store::suppression s, unsubscribe::suppress_done done) {
          lookup.suppress(std::move(s), std::move(done));
        },
        cfg);
    server.start();
  }
  ~endpoint() {
    server.stop(); // no handler runs on past here
    lookup.stop();
  }
  std::string target(const unsubscribe::subscription& sub) const {
    return "/unsubscribe/" + unsubscribe::signer(secrets).encode(sub);
  }
};

} // namespace

TEST_CASE("PostgreSQL: a one-click POST stores an unsubscribe for the tenant, address and list, "
          "and a second POST changes nothing") {
  test_database db;
  migrate(db.url());
  endpoint e(db.url());
  store::content_store content(db.url());

  const unsubscribe::subscription sub{"acme", "Helene@Exemple.FR", "newsletter"};
  auto r = post_one_click(e.server.port(), e.target(sub));
  REQUIRE(r);
  CHECK(r->status == 200);

  // Marketing mail of that list is stopped; transactional mail and other lists are not.
  const auto hit =
      content.is_suppressed("acme", "Helene@exemple.fr", mail_category::marketing, "newsletter");
  REQUIRE(hit);
  CHECK(hit->reason == suppression_reason::unsubscribe);
  CHECK(hit->list == "newsletter");
  CHECK(hit->address == "Helene@exemple.fr"); // address_key: the domain lower-cased
  CHECK(hit->note == "one-click unsubscribe (RFC 8058)");
  CHECK_FALSE(content.is_suppressed("acme", "Helene@exemple.fr", mail_category::transactional,
                                    "newsletter"));
  CHECK_FALSE(
      content.is_suppressed("acme", "Helene@exemple.fr", mail_category::marketing, "offres"));
  CHECK_FALSE(
      content.is_suppressed("globex", "Helene@exemple.fr", mail_category::marketing, "newsletter"));
  const auto since = hit->since;

  auto again = post_one_click(e.server.port(), e.target(sub));
  REQUIRE(again);
  CHECK(again->status == 200);
  const auto all = content.list_suppressions("acme");
  REQUIRE(all.size() == 1);
  CHECK(all[0].reason == suppression_reason::unsubscribe);
  CHECK(all[0].since == since); // the first one kept
  CHECK(db.count("SELECT count(*) FROM suppressions") == 1);
}

TEST_CASE("PostgreSQL: an unsubscribe from every list (list '') stops every list's marketing") {
  test_database db;
  migrate(db.url());
  endpoint e(db.url());
  store::content_store content(db.url());
  auto r = post_one_click(e.server.port(), e.target({"acme", "jean@exemple.fr", ""}));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(content.is_suppressed("acme", "jean@exemple.fr", mail_category::marketing, "newsletter"));
  CHECK(content.is_suppressed("acme", "jean@exemple.fr", mail_category::marketing, "offres"));
}

TEST_CASE("PostgreSQL: an address already hard-bounced keeps its stronger reason after an "
          "unsubscribe") {
  test_database db;
  migrate(db.url());
  store::content_store content(db.url());
  store::suppression bounced;
  bounced.tenant = "acme";
  bounced.address = "jean@exemple.fr";
  bounced.reason = suppression_reason::hard_bounce;
  bounced.list = "newsletter";
  content.add_suppression(bounced);
  endpoint e(db.url());
  auto r = post_one_click(e.server.port(), e.target({"acme", "jean@exemple.fr", "newsletter"}));
  REQUIRE(r);
  CHECK(r->status == 200);
  const auto all = content.list_suppressions("acme");
  REQUIRE(all.size() == 1);
  CHECK(all[0].reason == suppression_reason::hard_bounce);
}

TEST_CASE("PostgreSQL: a forged token writes nothing") {
  test_database db;
  migrate(db.url());
  endpoint e(db.url());
  const std::string forged = unsubscribe::signer(unsubscribe::secret_set({std::string(40, 'f')}))
                                 .encode({"acme", "jean@exemple.fr", "newsletter"});
  auto r = post_one_click(e.server.port(), "/unsubscribe/" + forged);
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(db.count("SELECT count(*) FROM suppressions") == 0);
}

TEST_CASE("PostgreSQL unreachable: 503 with Retry-After, and the queued write lands once the "
          "database is there") {
  // The lookup points at a database that does not exist yet: every connection fails, as with
  // a server that is down, and the write waits in content_lookup's queue.
  const std::string name = "t_unsub_" + std::to_string(std::random_device{}());
  const std::string url = with_dbname(database_url(), name);
  endpoint e(url, 300ms);
  auto r = post_one_click(e.server.port(), e.target({"acme", "jean@exemple.fr", "newsletter"}));
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->header("retry-after") == "30");

  // The database appears migrated at once (built under another name, then renamed), so that
  // the lookup never sees it half-migrated.
  const std::string building = name + "_new";
  {
    pqxx::connection c(database_url());
    pqxx::nontransaction(c).exec("CREATE DATABASE " + building);
  }
  struct drop_at_end {
    std::vector<std::string> names;
    ~drop_at_end() {
      try {
        pqxx::connection c(database_url());
        for (const auto& n : names)
          pqxx::nontransaction(c).exec("DROP DATABASE IF EXISTS " + n + " WITH (FORCE)");
      } catch (...) {
      }
    }
  } dropper{{building, name}};
  migrate(with_dbname(database_url(), building));
  {
    pqxx::connection c(database_url());
    pqxx::nontransaction(c).exec("ALTER DATABASE " + building + " RENAME TO " + name);
  }
  store::content_store content(url);
  CHECK(eventually(
      [&] {
        return content
            .is_suppressed("acme", "jean@exemple.fr", mail_category::marketing, "newsletter")
            .has_value();
      },
      20s));
  // The sender's retry after Retry-After: idempotent, 200.
  auto retry = post_one_click(e.server.port(), e.target({"acme", "jean@exemple.fr", "newsletter"}));
  REQUIRE(retry);
  CHECK(retry->status == 200);
  CHECK(content.list_suppressions("acme").size() == 1);
}

} // namespace test_integration_unsubscribe_unsubscribe_test
