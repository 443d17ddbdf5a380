// Specification of parse_request: each rule of iaposte.request.v1, one behaviour per case.
#include <doctest/doctest.h>

#include <string>

#include "core/request.hpp"
#include "core/status.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_core_request_test {

using namespace iaposte::core;
using nlohmann::json;

namespace {

json minimal() {
  return {{"request_id", "req-1"},      {"tenant", "acme"}, {"from", "noreply@acme.example"},
          {"to", "client@example.org"}, {"subject", "Hi"},  {"text", "Hello"}};
}

const clock::time_point fixed_now = *parse_time("2026-11-25T12:00:00Z");

parse_result parse(const json& j, const limits& lim = {}) {
  return parse_request(j.dump(), lim, fixed_now);
}

std::string reason(const json& j, const limits& lim = {}) {
  auto r = parse(j, lim);
  CHECK_MESSAGE(!r.ok(), "expected a rejection of " << j.dump());
  return r.error;
}

} // namespace

TEST_CASE("a minimal request parses into its fields") {
  auto r = parse(minimal());
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value->request_id == "req-1");
  CHECK(r.value->tenant == "acme");
  CHECK(r.value->from.email == "noreply@acme.example");
  REQUIRE(r.value->to.size() == 1);
  CHECK(r.value->to[0].email == "client@example.org");
  CHECK(r.value->subject == "Hi");
  CHECK(r.value->text == "Hello");
  CHECK(r.value->html.empty());
  CHECK(r.value->metadata == json::object());
  CHECK(r.request_id == "req-1");
  CHECK(r.tenant == "acme");
}

TEST_CASE("addresses come as a string, \"Name <addr>\", a quoted name, or an object") {
  auto j = minimal();
  j["to"] = {"plain@example.org",
             "Jean Dupont <jean@example.org>",
             "\"Dupont, Jean \\\"JD\\\"\" <jd@example.org>",
             {{"email", "helene@example.fr"}, {"name", "Hélène Martin"}},
             "<bare@example.org>"};
  auto r = parse(j);
  REQUIRE_MESSAGE(r.ok(), r.error);
  const auto& to = r.value->to;
  REQUIRE(to.size() == 5);
  CHECK(to[0].display_name.empty());
  CHECK(to[1].display_name == "Jean Dupont");
  CHECK(to[1].email == "jean@example.org");
  CHECK(to[2].display_name == "Dupont, Jean \"JD\"");
  CHECK(to[3].display_name == "Hélène Martin");
  CHECK(to[3].email == "helene@example.fr");
  CHECK(to[4].display_name.empty());
  CHECK(to[4].email == "bare@example.org");
}

TEST_CASE("to, cc and bcc accept one address instead of an array") {
  auto j = minimal();
  j["cc"] = {{"email", "cc@example.org"}};
  j["bcc"] = "Archive <bcc@example.org>";
  auto r = parse(j);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value->cc.at(0).email == "cc@example.org");
  CHECK(r.value->bcc.at(0).email == "bcc@example.org");
}

TEST_CASE("envelope recipients are to, cc, bcc in order, each mailbox once") {
  auto j = minimal();
  j["to"] = {"a@example.org", "b@Example.ORG"};
  j["cc"] = {"c@example.org", "b@example.org"};
  j["bcc"] = {"d@example.org", "A@example.org"};
  auto r = parse(j);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value->envelope_recipients() == std::vector<std::string>{"a@example.org", "b@Example.ORG",
                                                                   "c@example.org", "d@example.org",
                                                                   "A@example.org"});
}

TEST_CASE("internationalised addresses are accepted in every address field, the domain kept in "
          "NFC U-labels") {
  auto j = minimal();
  j["from"] = "Équipe Été <équipe@Exemple-ÉTÉ.fr>";
  j["to"] = {"hélène@exemple-été.fr", {{"email", "jörg@straße.de"}, {"name", "Jörg"}}};
  j["cc"] = "user@xn--exemple-t-i4ab.fr";
  j["reply_to"] = "réponses@exemple-été.fr";
  auto r = parse(j);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value->from.email == "équipe@exemple-été.fr");
  CHECK(r.value->from.display_name == "Équipe Été");
  CHECK(r.value->to[0].email == "hélène@exemple-été.fr");
  CHECK(r.value->to[1].email == "jörg@straße.de");
  CHECK(r.value->cc[0].email == "user@xn--exemple-t-i4ab.fr"); // A-labels stay as given
  CHECK(r.value->reply_to->email == "réponses@exemple-été.fr");
}

TEST_CASE("one mailbox written with its domain in U-labels and in A-labels gets one RCPT") {
  auto j = minimal();
  j["to"] = {"user@exemple-été.fr", "user@XN--EXEMPLE-T-I4AB.fr"};
  j["bcc"] = "hélène@exemple-été.fr";
  auto r = parse(j);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value->envelope_recipients() ==
        std::vector<std::string>{"user@exemple-été.fr", "hélène@exemple-été.fr"});
}

TEST_CASE("an invalid internationalised address says what is wrong with it") {
  auto j = minimal();
  j["to"] = {"ok@example.org", "x@☃.net"};
  CHECK(reason(j) == "to[1]: invalid email address \"x@☃.net\" (domain not a valid IDNA2008 "
                     "domain name: string contains a disallowed character)");
  j["to"] = "ok@example.org";
  j["from"] = {{"email", "a\u200Bb@exemple.fr"}};
  CHECK(reason(j) == "from: invalid email address \"a\u200Bb@exemple.fr\" (local part has "
                     "U+200B, an invisible, space or control character)");
  j["from"] = "Nom <nom@ét_é.fr>";
  CHECK(reason(j).rfind("from: invalid email address \"nom@ét_é.fr\" (domain its A-label form",
                        0) == 0);
}

TEST_CASE("an invalid address names the field and its index") {
  auto j = minimal();
  j["to"] = {"ok@example.org", "foo@"};
  CHECK(reason(j) == "to[1]: invalid email address \"foo@\"");
  j["to"] = "ok@example.org";
  j["reply_to"] = "not an address";
  CHECK(reason(j) == "reply_to: invalid email address \"not an address\"");
  j.erase("reply_to");
  j["from"] = {{"email", "a@b.c"}, {"name", "x\ry"}};
  CHECK(reason(j) == "from: display name contains CR, LF or NUL");
}

TEST_CASE("at least one recipient, at most limits.max_recipients") {
  auto j = minimal();
  j["to"] = json::array();
  CHECK(reason(j) == "no recipient: to, cc and bcc are all empty");
  j["to"] = {"a@example.org", "b@example.org"};
  j["bcc"] = {"c@example.org"};
  limits lim;
  lim.max_recipients = 2;
  CHECK(reason(j, lim) == "too many recipients: 3 > 2");
  lim.max_recipients = 3;
  CHECK(parse(j, lim).ok());
}

TEST_CASE("subject must not carry CR or LF") {
  auto j = minimal();
  j["subject"] = "Hello\r\nBcc: victim@example.org";
  CHECK(reason(j) == "subject contains CR or LF");
  j["subject"] = "Hello\nworld";
  CHECK(reason(j) == "subject contains CR or LF");
  j["subject"] = std::string("a\0b", 3);
  CHECK(reason(j) == "subject contains NUL");
}

TEST_CASE("text, html or markdown must be non-empty; any alone is enough") {
  auto j = minimal();
  j["text"] = "";
  CHECK(reason(j) == "no content: text, html and markdown are all empty");
  j["markdown"] = "**Bonjour**";
  CHECK(parse(j).ok());
  j.erase("markdown");
  j["html"] = "<p>hi</p>";
  CHECK(parse(j).ok());
  j.erase("text");
  CHECK(parse(j).ok());
}

TEST_CASE("the body limit counts subject, text and html bytes") {
  auto j = minimal();
  j["subject"] = "12345";
  j["text"] = "1234567890";
  j["html"] = "12345";
  limits lim;
  lim.max_body_bytes = 19;
  CHECK(reason(j, lim) == "body too large: 20 bytes > 19");
  lim.max_body_bytes = 20;
  CHECK(parse(j, lim).ok());
}

TEST_CASE("a raw request above max_request_bytes is refused before parsing") {
  limits lim;
  lim.max_request_bytes = 10;
  auto r = parse_request("{\"request_id\": \"x\"}", lim);
  CHECK(r.error == "request too large: 19 bytes > 10");
  CHECK(r.request_id.empty());
}

TEST_CASE("malformed JSON is reported with its position") {
  auto r = parse_request("{\"request_id\": \"x\",", limits{});
  CHECK_FALSE(r.ok());
  CHECK(r.error.rfind("malformed JSON at byte 20: ", 0) == 0);
  CHECK(r.error.find("json.exception") == std::string::npos);
  CHECK(parse_request("", limits{}).error.rfind("malformed JSON at byte", 0) == 0);
  // Invalid UTF-8 names its field instead (issue 11).
  CHECK(parse_request("{\"a\": \"\xff\"}", limits{}).error == "a: not valid UTF-8 at byte 0");
}

TEST_CASE("deeply nested JSON is refused without recursion trouble") {
  std::string deep(100000, '[');
  auto r = parse_request(deep, limits{});
  CHECK(r.error == "malformed JSON: nested deeper than 64 levels");
  auto j = minimal();
  json nested = json::object();
  for (int i = 0; i < 70; ++i)
    nested = json{{"n", nested}};
  j["metadata"] = nested;
  CHECK(parse(j).error == "malformed JSON: nested deeper than 64 levels");
}

TEST_CASE("a request must be an object") {
  CHECK(parse_request("[]", limits{}).error == "request must be a JSON object (got array)");
  CHECK(parse_request("\"x\"", limits{}).error == "request must be a JSON object (got string)");
}

TEST_CASE("duplicate keys are refused, at any depth") {
  auto r = parse_request(R"({"request_id":"d-1","tenant":"acme","subject":"a","subject":"b"})",
                         limits{}, fixed_now);
  CHECK(r.error == "duplicate key: \"subject\"");
  CHECK(r.request_id == "d-1");
  r = parse_request(R"({"metadata":{"k":1,"k":2}})", limits{}, fixed_now);
  CHECK(r.error == "duplicate key: \"k\"");
  // The same key in two sibling objects is fine.
  auto j = minimal();
  j["metadata"] = {{"a", {{"k", 1}}}, {"b", {{"k", 2}}}};
  CHECK(parse(j).ok());
}

TEST_CASE("request_id, tenant and metadata are recovered from a rejected request") {
  auto j = minimal();
  j["metadata"] = {{"crm_id", 42}};
  j["to"] = "broken";
  auto r = parse(j);
  CHECK_FALSE(r.ok());
  CHECK(r.request_id == "req-1");
  CHECK(r.tenant == "acme");
  CHECK(r.metadata == json{{"crm_id", 42}});

  SUBCASE("even when the request_id is the only good field") {
    auto r2 = parse_request(R"({"request_id":"only-this","tenant":7})", limits{});
    CHECK(r2.request_id == "only-this");
    CHECK(r2.tenant.empty());
    CHECK(r2.error == "tenant: must be a string (got number)");
  }
  SUBCASE("but not an invalid request_id") {
    j["request_id"] = "has space";
    CHECK(parse(j).request_id.empty());
  }
}

TEST_CASE("request_id and tenant syntax") {
  auto j = minimal();
  j["request_id"] = "devis-2026.11:42@crm_b";
  CHECK(parse(j).ok());
  j["request_id"] = std::string(128, 'a');
  CHECK(parse(j).ok());
  j["request_id"] = std::string(129, 'a');
  CHECK(reason(j).rfind("request_id: invalid value", 0) == 0);
  j["request_id"] = "";
  CHECK(reason(j).rfind("request_id: invalid value", 0) == 0);
  j["request_id"] = 12;
  CHECK(reason(j) == "request_id: must be a string (got number)");
  j = minimal();
  j["tenant"] = "ACME";
  CHECK(reason(j).rfind("tenant: invalid value \"ACME\"", 0) == 0);
  j["tenant"] = std::string(65, 'a');
  CHECK(reason(j).rfind("tenant: invalid value", 0) == 0);
}

TEST_CASE("missing required fields are named") {
  for (const char* field : {"request_id", "tenant", "from", "subject"}) {
    auto j = minimal();
    j.erase(field);
    CHECK(reason(j) == std::string("missing required field: ") + field);
  }
}

TEST_CASE("unknown and not-yet-supported fields are refused by name") {
  auto j = minimal();
  j["subjet"] = "typo";
  CHECK(reason(j) == "unknown field: subjet");
  j = minimal();
  j["bad key\n"] = 1;
  CHECK(reason(j) == "unknown field: \"bad key\\n\"");
  j = minimal();
  j["attachments"] = json::array({json::object()});
  CHECK(reason(j) == "missing required field: attachments[0].filename");
  j["attachments"] = json::array();
  CHECK(parse(j).ok());
  j = minimal();
  j["ai"] = {{"mode", "personalize"}};
  REQUIRE(parse(j).ok());
  CHECK(parse(j).value->ai->mode == "personalize");
  j["ai"] = {{"mode", "generate"}};
  CHECK(reason(j) == "ai.instructions: required (non-empty) with mode \"generate\"");
  j["ai"] = {{"mode", "rewrite"}};
  CHECK(reason(j) == "ai.mode: expected none, personalize or generate, got \"rewrite\"");
  j["ai"] = {{"mode", "none"}, {"style", "formel"}};
  CHECK(parse(j).ok());
  j["ai"] = {{"mode", "none"}, {"temperature", "0.2"}};
  CHECK(reason(j) == "ai: unknown field: temperature");
}

TEST_CASE("the schema field, when present, must name v1") {
  auto j = minimal();
  j["schema"] = "iaposte.request.v1";
  CHECK(parse(j).ok());
  j["schema"] = "iaposte.request.v2";
  CHECK(reason(j) ==
        "schema: unsupported value \"iaposte.request.v2\" (expected \"iaposte.request.v1\")");
  j["schema"] = 1;
  CHECK(reason(j).rfind("schema: unsupported value 1", 0) == 0);
}

TEST_CASE("variables: strings, numbers and booleans, converted to text") {
  auto j = minimal();
  j["variables"] = {{"nom", "Hélène"}, {"n", 42}, {"x", 2.5}, {"ok", true}, {"neg", -3}};
  auto r = parse(j);
  REQUIRE_MESSAGE(r.ok(), r.error);
  const auto& v = r.value->variables;
  CHECK(v.at("nom") == "Hélène");
  CHECK(v.at("n") == "42");
  CHECK(v.at("x") == "2.5");
  CHECK(v.at("ok") == "true");
  CHECK(v.at("neg") == "-3");
  j["variables"] = {{"nom", nullptr}};
  CHECK(reason(j) == "variables.nom: must be a string, number or boolean (got null)");
  j["variables"] = {{"nom", {{"first", "a"}}}};
  CHECK(reason(j) == "variables.nom: must be a string, number or boolean (got object)");
  j["variables"] = {{"1st", "a"}};
  CHECK(reason(j).rfind("variables: invalid name \"1st\"", 0) == 0);
  j["variables"] = json::array();
  CHECK(reason(j) == "variables: must be an object (got array)");
}

TEST_CASE("headers: only the allow-list, in the given order, values header-safe") {
  auto j = minimal();
  // Written as raw text: nlohmann::json would sort the keys before we see them.
  auto r =
      parse_request(R"({"request_id":"r","tenant":"t","from":"a@b.c","to":"d@e.f","subject":"s",
    "text":"x","headers":{"X-Zeta":"1","in-reply-to":"<a@b>","X-Alpha":"2","Comments":"é"}})",
                    limits{}, fixed_now);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value->headers ==
        std::vector<std::pair<std::string, std::string>>{
            {"X-Zeta", "1"}, {"In-Reply-To", "<a@b>"}, {"X-Alpha", "2"}, {"Comments", "é"}});

  for (const char* name : {"Bcc", "Received", "From", "X-Iaposte-Request-Id", "x-iaposte-tenant",
                           "X-Iaposte", "X-", "X-Bad_Name", "Content-Type"}) {
    j["headers"] = {{name, "v"}};
    CHECK(reason(j) == std::string("headers: \"") + name + "\" is not allowed");
  }
  j["headers"] = {{"X-Campaign", "a\r\nBcc: x@example.org"}};
  CHECK(reason(j) == "headers.X-Campaign contains CR, LF or NUL");
  j["headers"] = {{"References", "<é@example.org>"}};
  CHECK(reason(j) == "headers.References: must be printable ASCII");
  j["headers"] = {{"X-Long", std::string(901, 'a')}};
  CHECK(reason(j) == "headers.X-Long: must be 1-900 characters");
  j["headers"] = {{"X-Empty", ""}};
  CHECK(reason(j) == "headers.X-Empty: must be 1-900 characters");
  j["headers"] = {{"X-Num", 1}};
  CHECK(reason(j) == "headers.X-Num: must be a string (got number)");
}

TEST_CASE("tags and metadata") {
  auto j = minimal();
  j["tags"] = {"devis", "novembre"};
  j["metadata"] = {{"crm", {{"id", 1}}}};
  auto r = parse(j);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.value->tags == std::vector<std::string>{"devis", "novembre"});
  CHECK(r.value->metadata["crm"]["id"] == 1);
  j["tags"] = {"ok", 7};
  CHECK(reason(j) == "tags[1]: must be a string (got number)");
  j["tags"] = {""};
  CHECK(reason(j) == "tags[0]: must be 1-128 characters");
  j["tags"] = "devis";
  CHECK(reason(j) == "tags: must be an array of strings (got string)");
  j.erase("tags");
  j["metadata"] = "x";
  CHECK(reason(j) == "metadata: must be an object (got string)");
}

TEST_CASE("send_at and expires_at are RFC 3339; an expired request is rejected") {
  auto j = minimal();
  j["send_at"] = "2026-11-25T13:00:00+01:00";
  j["expires_at"] = "2026-11-26T00:00:00Z";
  auto r = parse(j);
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(format_time(*r.value->send_at) == "2026-11-25T12:00:00.000Z");
  j["expires_at"] = "2026-11-25T11:59:59Z";
  CHECK(reason(j) == "expired: expires_at 2026-11-25T11:59:59.000Z is in the past");
  j["send_at"] = "2026-11-25T14:00:00Z";
  j["expires_at"] = "2026-11-25T13:00:00Z";
  CHECK(reason(j) == "expires_at is not after send_at");
  j["expires_at"] = "2026-11-26T00:00:00Z";
  j["send_at"] = "tomorrow";
  CHECK(reason(j) == "send_at: invalid RFC 3339 timestamp \"tomorrow\"");
  j["send_at"] = 1764072000;
  CHECK(reason(j) == "send_at: must be an RFC 3339 timestamp string (got number)");
}

TEST_CASE("a long bad value is cut in the reason") {
  auto j = minimal();
  j["to"] = std::string(300, 'x');
  auto why = reason(j);
  CHECK(why.size() < 120);
  CHECK(why.find("...") != std::string::npos);
}

} // namespace test_unit_core_request_test
