// Model answers from tests/data/ai/answers/ through the validator, then mutated: whatever the
// model sends, the validator never crashes and what it accepts is safe to put in a message.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "ai/validate.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_ai_answers_test {

using namespace iaposte::ai::detail;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> answers() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(IAPOSTE_TEST_DATA) / "ai" / "answers"))
    if (e.path().extension() == ".json") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

const std::optional<std::vector<std::string>> allowed{
    std::vector<std::string>{"https://acme.example/devis/42"}};

} // namespace

TEST_CASE("each answer of tests/data/ai/answers gets the verdict in its .result file") {
  const auto files = answers();
  REQUIRE(files.size() >= 10);
  for (const auto& f : files) {
    CAPTURE(f.filename().string());
    std::string expected = slurp(fs::path(f).replace_extension(".result"));
    while (!expected.empty() && expected.back() == '\n')
      expected.pop_back();
    auto c = check_output(slurp(f), limits{200, 20000, 100000}, allowed);
    CHECK((c.value ? std::string("ok") : c.error) == expected);
  }
}

TEST_CASE("mutated answers never crash the validator; accepted ones are safe") {
  std::mt19937 rng(20261125); // fixed: a failure reproduces
  const auto files = answers();
  const std::string alphabet = "{}[]\":,\\\r\n\t\x01\x7f{{}}https://x/ aé\xff";
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string s = slurp(files[rng() % files.size()]);
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const std::size_t at = rng() % s.size();
      switch (rng() % 3) {
      case 0:
        s[at] = alphabet[rng() % alphabet.size()];
        break;
      case 1:
        s.insert(at, 1, alphabet[rng() % alphabet.size()]);
        break;
      default:
        s.erase(at, 1 + rng() % 3);
        break;
      }
    }
    auto c = check_output(s, limits{200, 20000, 100000}, allowed);
    if (!c.value) continue;
    ++accepted;
    const auto& v = *c.value;
    REQUIRE(!v.subject.empty());
    REQUIRE(v.subject.find_first_of("\r\n") == std::string::npos);
    REQUIRE(v.subject.find("{{") == std::string::npos);
    REQUIRE(v.text.find("}}") == std::string::npos);
    for (const auto* part : {&v.subject, &v.text, &v.html})
      for (const auto& link : find_links(*part))
        REQUIRE(link == "https://acme.example/devis/42");
  }
  CHECK(accepted > 0);
}

} // namespace test_unit_ai_answers_test
