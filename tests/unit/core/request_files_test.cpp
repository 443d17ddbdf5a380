// The examples in tests/data/requests/ split into valid and invalid as the schema says.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/request.hpp"
#include "core/status.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_core_request_files_test {

namespace fs = std::filesystem;
using namespace iaposte::core;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> json_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

const fs::path data = fs::path(IAPOSTE_TEST_DATA) / "requests";
const clock::time_point fixed_now = *parse_time("2026-11-25T12:00:00Z");

} // namespace

TEST_CASE("every request in requests/valid parses") {
  auto files = json_files(data / "valid");
  CHECK(files.size() >= 5);
  for (const auto& f : files) {
    auto r = parse_request(slurp(f), limits{}, fixed_now);
    CHECK_MESSAGE(r.ok(), f.filename().string() << ": " << r.error);
  }
}

TEST_CASE("every request in requests/invalid is rejected for the reason in its .reason file") {
  auto files = json_files(data / "invalid");
  CHECK(files.size() >= 12);
  for (const auto& f : files) {
    auto reason_file = fs::path(f).replace_extension(".reason");
    REQUIRE_MESSAGE(fs::exists(reason_file), "missing " << reason_file.filename().string());
    auto expected = slurp(reason_file);
    while (!expected.empty() && (expected.back() == '\n' || expected.back() == '\r'))
      expected.pop_back();
    auto raw = slurp(f);
    auto r = parse_request(raw, limits{}, fixed_now);
    CHECK_MESSAGE(!r.ok(), f.filename().string() << " was accepted");
    CHECK_MESSAGE(r.error.find(expected) != std::string::npos,
                  f.filename().string() << ": expected a reason containing [" << expected
                                        << "], got [" << r.error << "]");
    // The shared base of these files has request_id "bad-1": it must come back for the event.
    if (raw.find("\"request_id\": \"bad-1\"") != std::string::npos) {
      CHECK_MESSAGE(r.request_id == "bad-1", f.filename().string());
    }
    if (raw.find("\"tenant\": \"acme\"") != std::string::npos) {
      CHECK_MESSAGE(r.tenant == "acme", f.filename().string());
    }
  }
}

} // namespace test_unit_core_request_files_test
