// Requests that are not valid UTF-8: a readable rejection naming the field, and status
// events, DLQ reasons and rows that serialise whatever bytes came in.
#include <doctest/doctest.h>

#include <string>

#include "core/request.hpp"
#include "core/status.hpp"
#include "core/text.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_core_utf8_test {

using namespace iaposte::core;

namespace {

std::string request_with(const std::string& field_json) {
  return R"({"request_id":"r-1","tenant":"acme","from":"a@exemple.fr",)" + field_json + "}";
}

std::string reason_of(const std::string& raw) {
  auto r = parse_request(raw, limits{});
  REQUIRE_FALSE(r.ok());
  return r.error;
}

} // namespace

TEST_CASE("a subject with the byte 0xFF is rejected naming the field and the byte") {
  auto raw = request_with(R"("to":"b@exemple.fr","subject":"abc)"
                          "\xff"
                          R"(","text":"Bonjour")");
  CHECK(reason_of(raw) == "subject: not valid UTF-8 at byte 3");
  // What can be read of the request still keys the rejection.
  auto r = parse_request(raw, limits{});
  CHECK(r.request_id == "r-1");
  CHECK(r.tenant == "acme");
}

TEST_CASE("invalid UTF-8 is located in nested fields, array items and after escapes") {
  CHECK(reason_of(request_with(R"("to":[{"email":"b@exemple.fr","name":"H)"
                               "\xc3"
                               R"("}])")) == "to[0].name: not valid UTF-8 at byte 1");
  CHECK(
      reason_of(request_with(
          R"("to":"b@exemple.fr","subject":"s","text":"t","variables":{"nom":"x","entreprise":"Bou)"
          "\xe9"
          R"("}})")) == "variables.entreprise: not valid UTF-8 at byte 3");
  CHECK(reason_of(request_with(R"("to":"b@exemple.fr","subject":"\u00e9\n)"
                               "\xff"
                               R"(","text":"t")")) ==
        "subject: not valid UTF-8 at byte 3"); // é (2 bytes) and \n (1) come before it
  CHECK(reason_of(request_with(R"("tags":["ok","x)"
                               "\xf0\x28"
                               R"("])")) == "tags[1]: not valid UTF-8 at byte 1");
  CHECK(reason_of(request_with(R"("metadata":{"crm":{"note":")"
                               "\x80"
                               R"("}})")) == "metadata.crm.note: not valid UTF-8 at byte 0");
}

TEST_CASE("a field name that is not valid UTF-8 is rejected as such") {
  auto reason = reason_of(request_with(R"("metadata":{"k)"
                                       "\xff"
                                       R"(":1})"));
  CHECK(reason.find("a field name in metadata is not valid UTF-8") == 0);
  CHECK(reason_of(R"({")"
                  "\xfe"
                  R"(":1})")
            .find("a field name is not valid UTF-8") == 0);
}

TEST_CASE("invalid UTF-8 outside any string is malformed JSON at that byte") {
  CHECK(reason_of("{\xff}") == "malformed JSON: not valid UTF-8 at byte 1 of the request");
}

TEST_CASE("every rejection reason is valid UTF-8, whatever the parser quoted") {
  // A raw control byte: the JSON parser's message quotes what it read last.
  auto r = parse_request(request_with("\"subject\":\"a\x01\""), limits{});
  REQUIRE_FALSE(r.ok());
  CHECK(invalid_utf8_at(r.error) == std::string::npos);
  CHECK(r.error.size() <= max_reason_bytes);
}

TEST_CASE("metadata over limits.max_metadata_bytes is rejected and not echoed") {
  limits lim;
  lim.max_metadata_bytes = 64;
  std::string big(100, 'x');
  auto raw = request_with(R"("to":"b@exemple.fr","subject":"s","text":"t","metadata":{"k":")" +
                          big + "\"}");
  auto r = parse_request(raw, lim);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("metadata too large") == 0);
  CHECK(r.metadata.empty());
  CHECK(r.request_id == "r-1");
}

TEST_CASE("a status event with invalid bytes in its reason and SMTP text serialises") {
  status_event ev;
  ev.request_id = "r-1";
  ev.tenant = "acme";
  ev.status = status::bounced;
  ev.reason = "550 from server: \xff\xfe" + std::string(5000, 'x');
  ev.smtp = smtp_reply_info{550, "5.1.\xff", "no such user \xc3"};
  std::string out;
  REQUIRE_NOTHROW(out = serialize(ev));
  CHECK(invalid_utf8_at(out) == std::string::npos);
  auto j = nlohmann::json::parse(out);
  CHECK(j["reason"].get<std::string>().size() <= max_reason_bytes);
  CHECK(j["smtp"]["text"] == "no such user \xEF\xBF\xBD");
  CHECK(status_event_from_json(j).reason == j["reason"].get<std::string>());
}

} // namespace test_unit_core_utf8_test
