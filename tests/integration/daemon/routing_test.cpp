// Direct MX delivery through the daemon: a real unbound serves the MX records, the MX host is
// the stack's capture server (its port given as routing.mx_port), null MX bounces.
#include <doctest/doctest.h>

#include "dns/unbound.hpp"
#include "harness.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_daemon_routing_test {

using namespace iaposte::testing;

namespace {

json request(const std::string& id, std::vector<std::string> to) {
  return {{"request_id", id},
          {"tenant", "acme"},
          {"from", "Direct <direct@iaposte.test>"},
          {"to", to},
          {"subject", "Livraison directe"},
          {"text", "Bonjour, ce message passe par le MX du destinataire."}};
}

} // namespace

TEST_CASE("direct routing: MX looked up with a real DNS server, delivered to the MX host; null "
          "MX bounces; a mixed envelope is sent to the reachable domain and names the other") {
  iaposte::dns::test::unbound_server dns({
      R"(local-zone: "test." static)",
      R"(local-data: "mxdirect.test. MX 10 mx.mxdirect.test.")",
      R"(local-data: "mx.mxdirect.test. A 127.0.0.1")",
      R"(local-data: "nullmx.test. MX 0 .")",
  });
  scenario sc("direct");
  sc.env["IAPOSTE_ROUTING_MODE"] = "direct";
  sc.env["IAPOSTE_ROUTING_MX_PORT"] = stack_value("SMTP_CAPTURE_PORT");
  sc.env["IAPOSTE_ROUTING_NAMESERVERS"] = dns.nameserver();
  sc.env["IAPOSTE_ROUTING_TLS"] = "opportunistic";
  daemon_process daemon(sc.env);
  REQUIRE_MESSAGE(daemon.wait_log("daemon.ready", 60s), daemon.log());
  CHECK(daemon.log().find("\"routing\":\"direct\"") != std::string::npos);

  auto ok = request(sc.name + "-ok", {unique("a") + "@mxdirect.test"});
  auto null_mx = request(sc.name + "-null", {unique("b") + "@nullmx.test"});
  auto mixed_null = unique("d") + "@nullmx.test";
  auto mixed = request(sc.name + "-mixed", {unique("c") + "@mxdirect.test", mixed_null});
  produce(sc.requests, {ok, null_mx, mixed});
  topic_reader status(sc.status);
  status.until([](const auto& seen) { return terminal_ids(seen).size() >= 3; }, 60s);

  std::map<std::string, json> last;
  for (const auto& e : status.events())
    last[e["request_id"]] = e;
  CHECK(last[sc.name + "-ok"]["status"] == "sent");
  CHECK(captured(ok["request_id"]).size() == 1);

  CHECK(last[sc.name + "-null"]["status"] == "bounced");
  CHECK(last[sc.name + "-null"]["smtp"]["enhanced"] == "5.1.10");
  CHECK(captured(null_mx["request_id"]).empty());

  CHECK(last[sc.name + "-mixed"]["status"] == "sent");
  CHECK(last[sc.name + "-mixed"]["reason"].get<std::string>().find(mixed_null) !=
        std::string::npos);
  CHECK(captured(mixed["request_id"]).size() == 1);
}

} // namespace test_integration_daemon_routing_test
