// Specifies the one-click body check against the cases in tests/data/unsubscribe/forms/: both
// form encodings RFC 8058 §3.2 allows, and what is refused.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "unsubscribe/form.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_unsubscribe_form_test {

using namespace iaposte;
using unsubscribe::form_verdict;

namespace {

const std::string forms = std::string(IAPOSTE_TEST_DATA) + "/unsubscribe/forms/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct form_case {
  std::string file, content_type, expected, why;
};

std::vector<form_case> cases() {
  std::vector<form_case> out;
  std::istringstream lines(read_file(forms + "cases.txt"));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line.front() == '#') continue;
    std::vector<std::string> f;
    std::size_t start = 0;
    for (;;) {
      const auto tab = line.find('\t', start);
      f.push_back(line.substr(start, tab == std::string::npos ? tab : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    REQUIRE_MESSAGE(f.size() == 4, "bad line in cases.txt: " << line);
    out.push_back({f[0], f[1], f[2], f[3]});
  }
  return out;
}

std::string_view name(form_verdict v) {
  switch (v) {
  case form_verdict::one_click:
    return "one_click";
  case form_verdict::unsupported_type:
    return "unsupported_type";
  case form_verdict::not_one_click:
    return "not_one_click";
  }
  return "?";
}

} // namespace

TEST_CASE("each form case of tests/data/unsubscribe/forms gets its expected verdict") {
  const auto all = cases();
  REQUIRE(all.size() >= 20);
  int one_click = 0;
  for (const auto& c : all) {
    CAPTURE(c.file);
    CAPTURE(c.why);
    const auto got = unsubscribe::check_one_click(c.content_type, read_file(forms + c.file));
    CHECK(name(got.verdict) == c.expected);
    // A refusal says why; an acceptance says nothing.
    CHECK(got.error.empty() == (got.verdict == form_verdict::one_click));
    one_click += got.verdict == form_verdict::one_click;
  }
  CHECK(one_click >= 5);
}

TEST_CASE("refusals explain themselves") {
  using unsubscribe::check_one_click;
  CHECK(check_one_click("", "List-Unsubscribe=One-Click").error ==
        "no Content-Type: expected application/x-www-form-urlencoded or multipart/form-data");
  CHECK(check_one_click("text/plain", "List-Unsubscribe=One-Click").error ==
        "unsupported Content-Type: expected application/x-www-form-urlencoded or "
        "multipart/form-data (RFC 8058 §3.2)");
  CHECK(check_one_click("application/x-www-form-urlencoded", "").error ==
        "empty body: expected List-Unsubscribe=One-Click");
  CHECK(check_one_click("application/x-www-form-urlencoded", "a=b").error ==
        "the form has no List-Unsubscribe=One-Click");
  CHECK(check_one_click("multipart/form-data", "").error ==
        "multipart/form-data without a valid boundary");
  CHECK(check_one_click("multipart/form-data; boundary=" + std::string(71, 'b'), "").error ==
        "multipart/form-data without a valid boundary");
  CHECK(check_one_click("multipart/form-data; boundary=b", "nothing").error ==
        "multipart body without its boundary");
  CHECK(check_one_click("multipart/form-data; boundary=b", "--bX\r\n").error ==
        "malformed multipart delimiter line");
}

TEST_CASE("a multipart body with very many parts is read up to a bound, not forever") {
  std::string body;
  for (int i = 0; i < 1000; ++i)
    body += "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n";
  body += "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n"
          "--b--\r\n";
  const auto got = unsubscribe::check_one_click("multipart/form-data; boundary=b", body);
  CHECK(got.verdict == form_verdict::not_one_click);
  CHECK(got.error == "the form has no List-Unsubscribe=One-Click part");
}

} // namespace test_unit_unsubscribe_form_test
