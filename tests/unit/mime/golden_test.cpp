// Composed messages compared byte for byte with tests/data/mime/NN-name.eml.
// IAPOSTE_UPDATE_GOLDEN=1 rewrites the .eml files instead (then check them with check_goldens.py).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/attachment.hpp"
#include "core/status.hpp"
#include "mime/compose.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_mime_golden_test {

namespace fs = std::filesystem;
using namespace iaposte;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto p = s.find("\r\n", start);
    if (p == std::string::npos) p = s.size();
    out.push_back(s.substr(start, p - start));
    start = p + 2;
  }
  return out;
}

// Where two messages first differ, by line, for a failure message that says something.
std::string first_difference(const std::string& want, const std::string& got) {
  auto a = lines_of(want), b = lines_of(got);
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    auto x = i < a.size() ? a[i] : "<end>", y = i < b.size() ? b[i] : "<end>";
    if (x != y)
      return "line " + std::to_string(i + 1) + "\n  expected: " + x + "\n  got:      " + y;
  }
  return "line endings differ";
}

void check_structure(const std::string& name, const std::string& msg, const core::request& req) {
  // CRLF only, no line over 998 octets (RFC 5322 §2.1.1), headers within 78 where foldable: the
  // message's and every part's (a part's start after its "--=_iaposte_..." delimiter line).
  bool in_headers = true;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\n') CHECK_MESSAGE((i > 0 && msg[i - 1] == '\r'), name << ": bare LF at " << i);
    if (msg[i] == '\r') {
      REQUIRE_MESSAGE((i + 1 < msg.size() && msg[i + 1] == '\n'), name << ": bare CR at " << i);
      auto len = i - line_start;
      std::string_view line(msg.data() + line_start, len);
      CHECK_MESSAGE(len <= 998, name << ": line of " << len << " octets");
      if (in_headers) CHECK_MESSAGE(len <= 78, name << ": header line of " << len << " octets");
      if (len == 0) in_headers = false;
      if (line.rfind("--=_iaposte_", 0) == 0 && line.substr(line.size() - 2) != "--")
        in_headers = true;
      line_start = i + 2;
    }
  }
  CHECK_MESSAGE(msg.size() >= 2, name);
  CHECK_MESSAGE(msg.compare(msg.size() - 2, 2, "\r\n") == 0, name << ": must end with CRLF");
  for (const auto& b : req.bcc)
    CHECK_MESSAGE(msg.find(b.email) == std::string::npos, name << ": Bcc address leaked");
  CHECK_MESSAGE(msg.find("\r\nBcc:") == std::string::npos, name);
}

} // namespace

TEST_CASE("composed messages match their golden .eml files") {
  const bool update = std::getenv("IAPOSTE_UPDATE_GOLDEN") != nullptr &&
                      std::string(std::getenv("IAPOSTE_UPDATE_GOLDEN")) == "1";
  std::vector<fs::path> inputs;
  for (const auto& e : fs::directory_iterator(fs::path(IAPOSTE_TEST_DATA) / "mime"))
    if (e.path().extension() == ".json") inputs.push_back(e.path());
  std::sort(inputs.begin(), inputs.end());
  CHECK(inputs.size() >= 16);

  for (const auto& input : inputs) {
    auto name = input.filename().string();
    auto spec = nlohmann::ordered_json::parse(slurp(input)); // keeps the header order
    // The request goes through the real parser, as in the daemon.
    auto parsed = core::parse_request(spec.at("request").dump(), core::limits{});
    REQUIRE_MESSAGE(parsed.ok(), name << ": " << parsed.error);
    const auto& req = *parsed.value;
    auto date = core::parse_time(spec.at("date").get<std::string>());
    REQUIRE_MESSAGE(date, name << ": bad date");
    // Attachments as the request field will carry them, read by the parser's helper.
    std::vector<core::attachment> attachments;
    if (auto it = spec.find("attachments"); it != spec.end())
      REQUIRE_MESSAGE(core::read_attachments(*it, 20, 10 << 20, attachments).empty(), name);
    REQUIRE_MESSAGE(core::check_inline_references(req.html, attachments).empty(), name);
    mime::content c{req.subject, req.text, req.html, attachments};
    auto msg = mime::compose(req, c, spec.at("message_id").get<std::string>(), *date);

    check_structure(name, msg, req);
    CHECK_MESSAGE(msg == mime::compose(req, c, spec.at("message_id").get<std::string>(), *date),
                  name << ": not deterministic");

    auto golden = fs::path(input).replace_extension(".eml");
    if (update) {
      std::ofstream(golden, std::ios::binary) << msg;
      MESSAGE("rewrote " << golden.filename().string());
      continue;
    }
    REQUIRE_MESSAGE(fs::exists(golden), "missing " << golden.filename().string()
                                                   << " (run with IAPOSTE_UPDATE_GOLDEN=1)");
    auto want = slurp(golden);
    CHECK_MESSAGE(want == msg, name << ": " << first_difference(want, msg));
  }
}

} // namespace test_unit_mime_golden_test
