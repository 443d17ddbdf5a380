// lib/csv: RFC 4180 reading (records, their lines, errors and recovery) and writing, from the
// vectors in tests/data/csv/ (NN-name.csv read, NN-name.json expected).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "csv/csv.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_csv_csv_test {

namespace fs = std::filesystem;
using namespace iaposte;
using nlohmann::json;

namespace {

struct transcript {
  std::vector<csv::record> records;
  std::vector<csv::error> errors;
};

transcript read_all(std::string_view text) {
  transcript t;
  csv::read(
      text, [&](csv::record&& r) { t.records.push_back(std::move(r)); },
      [&](csv::error&& e) { t.errors.push_back(std::move(e)); });
  return t;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The expected files write bytes JSON cannot hold as \xNN.
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

} // namespace

TEST_CASE("csv::read gives each vector's records with their first line, and its errors") {
  const fs::path dir = fs::path(IAPOSTE_TEST_DATA) / "csv";
  std::vector<fs::path> inputs;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".csv") inputs.push_back(e.path());
  std::sort(inputs.begin(), inputs.end());
  REQUIRE(inputs.size() >= 16);
  for (const auto& input : inputs) {
    CAPTURE(input.filename().string());
    const json expected = json::parse(slurp(fs::path(input).replace_extension(".json")));
    const transcript got = read_all(slurp(input));
    REQUIRE(got.records.size() == expected["records"].size());
    for (std::size_t i = 0; i < got.records.size(); ++i) {
      CAPTURE(i);
      CHECK(got.records[i].line == expected["records"][i][0].get<std::size_t>());
      std::vector<std::string> fields;
      for (const auto& f : expected["records"][i][1])
        fields.push_back(unescape(f.get<std::string>()));
      CHECK(got.records[i].fields == fields);
    }
    REQUIRE(got.errors.size() == expected["errors"].size());
    for (std::size_t i = 0; i < got.errors.size(); ++i) {
      CAPTURE(got.errors[i].message);
      CHECK(got.errors[i].line == expected["errors"][i][0].get<std::size_t>());
      CHECK(got.errors[i].message.find(expected["errors"][i][1].get<std::string>()) !=
            std::string::npos);
    }
  }
}

TEST_CASE("csv::read: a record callback that throws stops the read with that exception") {
  int seen = 0;
  CHECK_THROWS_WITH_AS(csv::read(
                           "a\r\nb\r\nc\r\n",
                           [&](csv::record&&) {
                             if (++seen == 2) throw std::runtime_error("enough");
                           },
                           [](csv::error&&) {}),
                       "enough", std::runtime_error);
  CHECK(seen == 2);
}

TEST_CASE("csv::quote quotes only what needs it, doubling inner quotes") {
  CHECK(csv::quote("plain") == "plain");
  CHECK(csv::quote("") == "");
  CHECK(csv::quote("Hélène") == "Hélène");
  CHECK(csv::quote("a,b") == "\"a,b\"");
  CHECK(csv::quote("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csv::quote("two\nlines") == "\"two\nlines\"");
  CHECK(csv::quote("cr\r") == "\"cr\r\"");
  CHECK(csv::quote(" padded") == "\" padded\"");
  CHECK(csv::quote("padded ") == "\"padded \"");
  CHECK(csv::quote("\xEF\xBB\xBF"
                   "bom") == "\"\xEF\xBB\xBF"
                             "bom\"");
}

TEST_CASE("csv::write_row then csv::read gives the same fields back") {
  const std::vector<std::vector<std::string>> rows = {
      {"email", "name", "note"},
      {"a@example.fr", "Dubois, Hélène", "said \"oui\"\r\nthen left"},
      {"", " ", "\"\""},
      {"only"},
  };
  // A first field that starts with a byte order mark keeps it.
  std::string bom;
  csv::write_row(bom, {"\xEF\xBB\xBFx", "y"});
  const transcript kept = read_all(bom);
  REQUIRE(kept.records.size() == 1);
  CHECK(kept.records[0].fields[0] == "\xEF\xBB\xBFx");
  std::string text;
  for (const auto& r : rows)
    csv::write_row(text, r);
  CHECK(text.substr(0, 17) == "email,name,note\r\n");
  const transcript got = read_all(text);
  CHECK(got.errors.empty());
  REQUIRE(got.records.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    CHECK(got.records[i].fields == rows[i]);
  CHECK(got.records[2].line == 4); // the record before spans lines 2 and 3
}

TEST_CASE("csv::valid_utf8 accepts well-formed UTF-8 and refuses the rest") {
  CHECK(csv::valid_utf8(""));
  CHECK(csv::valid_utf8("ascii"));
  CHECK(csv::valid_utf8("Hélène, 日本, 😀"));
  CHECK(csv::valid_utf8("\xF4\x8F\xBF\xBF")); // U+10FFFF
  CHECK_FALSE(csv::valid_utf8(std::string("a\0b", 3)));
  CHECK_FALSE(csv::valid_utf8("\xC3"));             // truncated
  CHECK_FALSE(csv::valid_utf8("\xC3\x28"));         // bad continuation
  CHECK_FALSE(csv::valid_utf8("\x80"));             // continuation first
  CHECK_FALSE(csv::valid_utf8("\xC0\xAF"));         // overlong '/'
  CHECK_FALSE(csv::valid_utf8("\xE0\x80\xAF"));     // overlong, 3 bytes
  CHECK_FALSE(csv::valid_utf8("\xF0\x80\x80\xAF")); // overlong, 4 bytes
  CHECK_FALSE(csv::valid_utf8("\xED\xA0\x80"));     // surrogate U+D800
  CHECK_FALSE(csv::valid_utf8("\xF4\x90\x80\x80")); // past U+10FFFF
  CHECK_FALSE(csv::valid_utf8("\xFF"));
  CHECK_FALSE(csv::valid_utf8("latin-1 \xE9t\xE9")); // ISO-8859-1 "été"
}

} // namespace test_unit_csv_csv_test
