// Specification of the status event: states, JSON both ways, RFC 3339 time.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/status.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_core_status_test {

namespace fs = std::filesystem;
using namespace iaposte::core;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json load(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

std::vector<fs::path> json_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

clock::time_point at(const char* s) {
  return *parse_time(s);
}

} // namespace

TEST_CASE("status names round-trip and only the final ones are terminal") {
  for (auto s : {status::accepted, status::deferred, status::sent, status::bounced, status::failed,
                 status::rejected, status::duplicate, status::suppressed})
    CHECK(status_from_string(to_string(s)) == s);
  CHECK_FALSE(status_from_string("unsubscribed"));
  CHECK_FALSE(status_from_string("Sent"));
  CHECK_FALSE(is_terminal(status::accepted));
  CHECK_FALSE(is_terminal(status::deferred));
  for (auto s : {status::sent, status::bounced, status::failed, status::rejected, status::duplicate,
                 status::suppressed})
    CHECK(is_terminal(s));
}

TEST_CASE("to_json writes every field and omits the absent optional ones") {
  status_event e;
  e.request_id = "r-1";
  e.tenant = "acme";
  e.status = status::accepted;
  e.message_id = "<a@b>";
  e.timestamp = at("2026-11-25T17:09:24.123Z");
  e.metadata = {{"k", "v"}};
  auto j = to_json(e);
  CHECK(j == json{{"schema", "iaposte.status.v1"},
                  {"request_id", "r-1"},
                  {"tenant", "acme"},
                  {"status", "accepted"},
                  {"attempt", 0},
                  {"message_id", "<a@b>"},
                  {"timestamp", "2026-11-25T17:09:24.123Z"},
                  {"metadata", {{"k", "v"}}}});

  e.status = status::deferred;
  e.attempt = 2;
  e.smtp = smtp_reply_info{451, "4.7.1", "try later"};
  e.next_attempt_at = e.timestamp + 4s;
  e.reason = "greylisted";
  j = to_json(e);
  CHECK(j["smtp"] == json{{"code", 451}, {"enhanced", "4.7.1"}, {"text", "try later"}});
  CHECK(j["next_attempt_at"] == "2026-11-25T17:09:28.123Z");
  CHECK(j["reason"] == "greylisted");
  CHECK(j["status"] == "deferred");
}

TEST_CASE("status_event_from_json reverses to_json") {
  status_event e;
  e.request_id = "r-2";
  e.tenant = "t";
  e.status = status::bounced;
  e.attempt = 3;
  e.message_id = "<x@y>";
  e.smtp = smtp_reply_info{550, "5.1.1", "no such user"};
  e.reason = "permanent";
  e.timestamp = at("2026-01-02T03:04:05.678Z");
  e.next_attempt_at = at("2026-01-02T03:05:00Z");
  e.metadata = {{"a", {1, 2}}};
  auto back = status_event_from_json(to_json(e));
  CHECK(back.request_id == e.request_id);
  CHECK(back.tenant == e.tenant);
  CHECK(back.status == e.status);
  CHECK(back.attempt == e.attempt);
  CHECK(back.message_id == e.message_id);
  REQUIRE(back.smtp);
  CHECK(back.smtp->code == 550);
  CHECK(back.smtp->enhanced == "5.1.1");
  CHECK(back.smtp->text == "no such user");
  CHECK(back.reason == e.reason);
  CHECK(back.timestamp == e.timestamp);
  CHECK(back.next_attempt_at == e.next_attempt_at);
  CHECK(back.metadata == e.metadata);
}

TEST_CASE("every example in tests/data/status reads and writes back identically") {
  auto files = json_files(fs::path(IAPOSTE_TEST_DATA) / "status");
  CHECK(files.size() >= 5);
  for (const auto& f : files) {
    auto j = load(f);
    CHECK_MESSAGE(to_json(status_event_from_json(j)) == j, f.filename().string());
  }
}

TEST_CASE("every example in tests/data/status/invalid is refused") {
  auto files = json_files(fs::path(IAPOSTE_TEST_DATA) / "status" / "invalid");
  CHECK(files.size() >= 3);
  for (const auto& f : files)
    CHECK_THROWS_AS_MESSAGE(status_event_from_json(load(f)), std::runtime_error,
                            f.filename().string());
  CHECK_THROWS_AS(status_event_from_json(json::array()), std::runtime_error);
  CHECK_THROWS_AS(status_event_from_json(json{{"request_id", 1}}), std::runtime_error);
}

TEST_CASE("format_time writes UTC with milliseconds and Z") {
  CHECK(format_time(clock::time_point{}) == "1970-01-01T00:00:00.000Z");
  CHECK(format_time(at("2026-11-25T17:09:24.123456Z")) == "2026-11-25T17:09:24.123Z");
  CHECK(format_time(at("1969-12-31T23:59:59.999Z")) == "1969-12-31T23:59:59.999Z");
  CHECK(format_time(at("2024-02-29T00:00:00Z")) == "2024-02-29T00:00:00.000Z");
}

TEST_CASE("parse_time accepts Z and offsets, fractions optional") {
  CHECK(at("2026-11-25T17:09:24Z") == at("2026-11-25T18:09:24+01:00"));
  CHECK(at("2026-11-25T17:09:24Z") == at("2026-11-25T12:39:24-04:30"));
  CHECK(at("2026-11-25t17:09:24z") == at("2026-11-25T17:09:24Z"));
  CHECK(at("2026-11-25T17:09:24.5Z") - at("2026-11-25T17:09:24Z") == 500ms);
  CHECK(at("2026-11-25T17:09:24.000001Z") - at("2026-11-25T17:09:24Z") == 1us);
  CHECK(at("2026-12-31T23:59:60Z") == at("2027-01-01T00:00:00Z"));
  CHECK(at("2026-11-25T00:30:00+01:00") == at("2026-11-24T23:30:00Z"));
}

TEST_CASE("parse_time refuses what is not RFC 3339") {
  for (const char* s : {"", "2026-11-25", "2026-11-25T17:09:24", "2026-11-25 17:09:24Z",
                        "2026-11-25T17:09Z", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
                        "2026-11-31T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T17:60:00Z",
                        "2026-11-25T17:09:61Z", "2026-11-25T17:09:24.Z", "2026-11-25T17:09:24+0100",
                        "2026-11-25T17:09:24+24:00", "2026-11-25T17:09:24Zjunk",
                        "26-11-25T17:09:24Z", "9999-12-31T23:59:59Z", "+2026-11-25T17:09:24Z"})
    CHECK_MESSAGE(!parse_time(s), s);
}

} // namespace test_unit_core_status_test
