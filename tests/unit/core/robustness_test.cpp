// parse_request on damaged input: never crashes, always answers (run under the sanitizers too).
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/request.hpp"
#include "core/text.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_core_robustness_test {

namespace fs = std::filesystem;
using namespace iaposte::core;

namespace {

// A fixed generator: the same mutations on every run.
struct lcg {
  std::uint64_t state;
  std::uint32_t next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 33);
  }
};

} // namespace

TEST_CASE("mutated valid requests are parsed or rejected, never crash") {
  static constexpr char table[] = "{}[]\",:\\\r\n\0 0aZ@<>\xc3\xa9\xff";
  const std::string_view bytes(table, sizeof table - 1); // the NUL inside counts, the final one not
  for (const auto& e : fs::directory_iterator(fs::path(IAPOSTE_TEST_DATA) / "requests" / "valid")) {
    std::ifstream in(e.path(), std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    const std::string original = s.str();
    lcg rng{std::hash<std::string>{}(e.path().filename().string())};
    for (int round = 0; round < 400; ++round) {
      std::string m = original;
      int edits = 1 + static_cast<int>(rng.next() % 4);
      for (int k = 0; k < edits && !m.empty(); ++k) {
        auto pos = rng.next() % m.size();
        switch (rng.next() % 4) {
        case 0:
          m[pos] = bytes[rng.next() % bytes.size()];
          break;
        case 1:
          m.erase(pos, 1 + rng.next() % 8);
          break;
        case 2:
          m.insert(pos, 1, bytes[rng.next() % bytes.size()]);
          break;
        case 3:
          m.resize(pos);
          break;
        }
      }
      auto r = parse_request(m, limits{});
      CHECK((r.ok() || !r.error.empty()));
      // What a rejection carries into its event is always valid UTF-8 (issue 11: a reason
      // quoting a raw 0xFF made the rejected event unserialisable and jammed the daemon).
      CHECK(invalid_utf8_at(r.error) == std::string::npos);
      CHECK(invalid_utf8_at(r.request_id) == std::string::npos);
      CHECK(invalid_utf8_at(r.tenant) == std::string::npos);
    }
  }
}

} // namespace test_unit_core_robustness_test
