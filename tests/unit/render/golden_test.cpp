// Golden files: tests/data/render/<case>/ holds a template version (subject.mustache,
// text.mustache, html.mustache, markdown.mustache), variables.json, optional partials
// (partial.<name>.text, partial.<name>.html) and options.json ({"strict", "allow_raw_html"}),
// and what must come out: expected.subject, expected.text, expected.html, or expected.error.
// IAPOSTE_GOLDEN_WRITE=1 writes the expected files from the current output (then review them).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "render/template.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_render_golden_test {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace iaposte::render;

namespace {

bool read(const fs::path& p, std::string& out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  return true;
}

std::string read_or_empty(const fs::path& p) {
  std::string s;
  read(p, s);
  return s;
}

void write(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

} // namespace

TEST_CASE("golden files under tests/data/render render to their expected output") {
  const fs::path root = fs::path(IAPOSTE_TEST_DATA) / "render";
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() >= 8);
  const bool write_mode = std::getenv("IAPOSTE_GOLDEN_WRITE") != nullptr;

  for (const auto& dir : cases) {
    CAPTURE(dir.filename().string());
    template_parts parts{read_or_empty(dir / "subject.mustache"),
                         read_or_empty(dir / "text.mustache"), read_or_empty(dir / "html.mustache"),
                         read_or_empty(dir / "markdown.mustache")};
    json vars = json::parse(read_or_empty(dir / "variables.json"));
    json opts = json::object();
    if (std::string o; read(dir / "options.json", o)) opts = json::parse(o);
    partial_map partials;
    for (const auto& f : fs::directory_iterator(dir)) {
      std::string n = f.path().filename().string();
      if (!n.starts_with("partial.")) continue;
      std::string rest = n.substr(8);
      auto dot = rest.rfind('.');
      auto& p = partials[rest.substr(0, dot)];
      (rest.substr(dot + 1) == "html" ? p.html : p.text) = read_or_empty(f.path());
    }
    render_options ro;
    ro.allow_raw_html = opts.value("allow_raw_html", false);

    std::string error;
    rendered out;
    auto c = compile(parts, template_options{opts.value("strict", false)});
    if (!c.ok()) {
      error = c.error;
    } else {
      auto r = render(*c.tmpl, vars, partials, ro);
      error = r.error;
      out = r.value;
    }

    if (write_mode) {
      for (const char* f : {"expected.error", "expected.subject", "expected.text", "expected.html"})
        fs::remove(dir / f);
      if (!error.empty()) {
        write(dir / "expected.error", error);
      } else {
        write(dir / "expected.subject", out.subject);
        write(dir / "expected.text", out.text);
        write(dir / "expected.html", out.html);
      }
      continue;
    }
    std::string want;
    if (read(dir / "expected.error", want)) {
      CHECK(error == want);
      continue;
    }
    REQUIRE_MESSAGE(error.empty(), error);
    int compared = 0;
    if (read(dir / "expected.subject", want)) {
      CHECK(out.subject == want);
      ++compared;
    }
    if (read(dir / "expected.text", want)) {
      CHECK(out.text == want);
      ++compared;
    }
    if (read(dir / "expected.html", want)) {
      CHECK(out.html == want);
      ++compared;
    }
    CHECK_MESSAGE(compared == 3, "a golden case needs expected.subject, .text and .html");
  }
}

} // namespace test_unit_render_golden_test
