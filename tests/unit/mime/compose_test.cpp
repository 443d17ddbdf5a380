// Specification of compose() on the edges the goldens do not show.
#include <doctest/doctest.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "decode.hpp"
#include "mime/compose.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_mime_compose_test {

using namespace iaposte;
using namespace std::chrono_literals;

namespace {

core::request base_request() {
  core::request r;
  r.request_id = "r-1";
  r.tenant = "acme";
  r.from = {"", "noreply@acme.example"};
  r.to = {{"", "client@example.org"}};
  return r;
}

const auto date = std::chrono::system_clock::time_point{} + 1764090564s;

std::string headers_of(const std::string& msg) {
  return msg.substr(0, msg.find("\r\n\r\n") + 2);
}

// Every line within `limit`; CRLF only.
void check_lines(const std::string& msg, std::size_t limit) {
  std::size_t start = 0;
  while (start < msg.size()) {
    auto end = msg.find("\r\n", start);
    REQUIRE(end != std::string::npos);
    auto line = msg.substr(start, end - start);
    CHECK_MESSAGE(line.size() <= limit, "line of " << line.size() << ": " << line.substr(0, 80));
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    start = end + 2;
  }
}

std::string header_value(const std::string& msg, const std::string& name) {
  auto h = "\r\n" + headers_of(msg);
  auto p = h.find("\r\n" + name + ": ");
  REQUIRE_MESSAGE(p != std::string::npos, "no " << name);
  std::string v;
  // Unfold: CRLF followed by whitespace is removed (RFC 5322 §2.2.3).
  for (auto i = p + 2 + name.size() + 2; i < h.size(); ++i) {
    if (h.compare(i, 2, "\r\n") == 0) {
      if (i + 2 < h.size() && (h[i + 2] == ' ' || h[i + 2] == '\t')) {
        ++i;
        continue;
      }
      break;
    }
    v += h[i];
  }
  return v;
}

} // namespace

TEST_CASE("a message with only Bcc recipients says so in To, and names nobody") {
  auto r = base_request();
  r.to.clear();
  r.bcc = {{"Secret", "secret@example.org"}};
  auto msg = mime::compose(r, {"s", "t", ""}, "<m@x>", date);
  CHECK(headers_of(msg).find("\r\nTo: undisclosed-recipients:;\r\n") != std::string::npos);
  CHECK(msg.find("secret") == std::string::npos);
  CHECK(msg.find("Secret") == std::string::npos);
}

TEST_CASE("CR and LF that reach compose never split a header") {
  auto r = base_request();
  r.from.display_name = "Evil\r\nBcc: victim@example.org";
  r.headers = {{"X-Inject", "a\r\nBcc: victim@example.org"}};
  auto msg = mime::compose(r, {"Hello\r\nBcc: victim@example.org", "t", ""}, "<m@x>", date);
  CHECK(headers_of(msg).find("\r\nBcc:") == std::string::npos);
  check_lines(msg, 998);
}

TEST_CASE("a subject word too long to fold becomes encoded-words") {
  auto r = base_request();
  std::string subject(300, 'a');
  auto msg = mime::compose(r, {subject, "t", ""}, "<m@x>", date);
  check_lines(headers_of(msg), 76);
  std::string decoded;
  auto v = header_value(msg, "Subject");
  std::size_t start = 0;
  while (start < v.size()) {
    auto end = v.find(' ', start);
    if (end == std::string::npos) end = v.size();
    decoded += mime::test::decode_word(v.substr(start, end - start));
    start = end + 1;
  }
  CHECK(decoded == subject);
}

TEST_CASE("a huge display name without spaces still gives lines under 998") {
  auto r = base_request();
  r.from.display_name = std::string(5000, 'N');
  r.to[0].display_name = std::string(3000, 'x') + "é";
  auto msg = mime::compose(r, {"s", "t", ""}, "<m@x>", date);
  check_lines(headers_of(msg), 78);
}

TEST_CASE("a hundred recipients fold between addresses") {
  auto r = base_request();
  r.to.clear();
  for (int i = 0; i < 100; ++i)
    r.to.push_back({"Person " + std::to_string(i), "person" + std::to_string(i) + "@example.org"});
  auto msg = mime::compose(r, {"s", "t", ""}, "<m@x>", date);
  check_lines(headers_of(msg), 76);
  auto to = header_value(msg, "To");
  CHECK(to.find("Person 0 <person0@example.org>, Person 1 <person1@example.org>") == 0);
  CHECK(to.find("Person 99 <person99@example.org>") != std::string::npos);
}

TEST_CASE("a quoted display name is not folded inside its quotes") {
  auto r = base_request();
  r.to = {
      {"Dupont, Jean-Pierre et Marie-Claire (service comptabilité fournisseurs)", "a@example.org"},
      {"Martin, Sophie; direction des achats, site de Lyon", "b@example.org"}};
  r.to[0].display_name = "Dupont, Jean-Pierre et Marie-Claire, service des achats et fournisseurs";
  auto msg = mime::compose(r, {"s", "t", ""}, "<m@x>", date);
  auto h = headers_of(msg);
  auto to = h.substr(h.find("\r\nTo: ") + 2);
  to = to.substr(0, to.find("\r\nSubject:"));
  // Each folded line holds whole quoted strings: an even number of quotes.
  std::size_t start = 0;
  while (start < to.size()) {
    auto end = to.find("\r\n", start);
    if (end == std::string::npos) end = to.size();
    auto line = to.substr(start, end - start);
    CHECK_MESSAGE(std::count(line.begin(), line.end(), '"') % 2 == 0, line);
    start = end + 2;
  }
}

TEST_CASE("the boundary never occurs in a part, even when a 7bit text contains it") {
  auto r = base_request();
  std::string mid = "<collide@x>";
  // The boundary the first try would pick, taken from a message without the collision.
  auto plain = mime::compose(r, {"s", "text", "<p>html</p>"}, mid, date);
  auto p = plain.find("boundary=\"") + 10;
  auto first = plain.substr(p, plain.find('"', p) - p);
  auto msg = mime::compose(r, {"s", "--" + first + "\r\nhijack", "<p>html</p>"}, mid, date);
  auto q = msg.find("boundary=\"") + 10;
  auto chosen = msg.substr(q, msg.find('"', q) - q);
  CHECK(chosen != first);
  CHECK(msg.find("--" + first + "\r\nhijack") != std::string::npos);
  // Delimiters: two parts and the close.
  std::size_t count = 0;
  for (auto i = msg.find("--" + chosen); i != std::string::npos; i = msg.find("--" + chosen, i + 1))
    ++count;
  CHECK(count == 3);
}

TEST_CASE("the same request composes to the same bytes; another Message-ID changes the boundary") {
  auto r = base_request();
  auto a = mime::compose(r, {"s", "t", "<p>h</p>"}, "<a@x>", date);
  CHECK(a == mime::compose(r, {"s", "t", "<p>h</p>"}, "<a@x>", date));
  auto b = mime::compose(r, {"s", "t", "<p>h</p>"}, "<b@x>", date);
  CHECK(a.substr(a.find("boundary=")) != b.substr(b.find("boundary=")));
}

TEST_CASE("body transfer encoding follows the content") {
  auto r = base_request();
  auto cte = [&](const std::string& text) {
    auto msg = mime::compose(r, {"s", text, ""}, "<m@x>", date);
    return header_value(msg, "Content-Transfer-Encoding");
  };
  CHECK(cte("plain ascii\nlines") == "7bit");
  CHECK(cte(std::string(998, 'a')) == "7bit");
  CHECK(cte(std::string(999, 'a')) == "quoted-printable");
  CHECK(cte("Bonjour Hélène, ça va ?") == "quoted-printable");
  CHECK(cte("邮件服务邮件服务邮件服务 ok") == "base64");
  CHECK(cte("Привет, как дела? Всё хорошо.") == "base64");
}

TEST_CASE("extra headers: X-* and Comments may be encoded, structured ones are folded") {
  auto r = base_request();
  std::string refs;
  for (int i = 0; i < 12; ++i)
    refs += "<thread-" + std::to_string(i) + "@example.org> ";
  refs.pop_back();
  r.headers = {{"References", refs},
               {"X-" + std::string(62, 'L'), "Équipe très longue valeur accentuée"},
               {"Comments", "plain words"}};
  auto msg = mime::compose(r, {"s", "t", ""}, "<m@x>", date);
  check_lines(headers_of(msg), 998);
  CHECK(header_value(msg, "References") == refs);
  CHECK(header_value(msg, "Comments") == "plain words");
  CHECK(header_value(msg, "X-" + std::string(62, 'L')).rfind("=?UTF-8?Q?", 0) == 0);
}

TEST_CASE("an empty subject is an empty Subject header") {
  auto msg = mime::compose(base_request(), {"", "t", ""}, "<m@x>", date);
  CHECK(headers_of(msg).find("\r\nSubject:\r\n") != std::string::npos);
}

TEST_CASE("arbitrary bytes anywhere still give CRLF-only lines under 998 and no extra header") {
  // A fixed generator: the same inputs on every run.
  std::uint64_t state = 42;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 33);
  };
  static constexpr std::string_view pieces[] = {
      "a",
      " ",
      "  ",
      "\t",
      "\r",
      "\n",
      "\r\n",
      ".",
      "=",
      "=?",
      "?=",
      "\"",
      "\\",
      ",",
      "<",
      ">",
      "é",
      "中",
      "😀",
      "\xff",
      "\xc3",
      "Bcc: x@y",
      "--",
      std::string_view("\0", 1),
      "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"};
  auto random_text = [&](std::size_t max_pieces) {
    std::string out;
    for (auto n = next() % max_pieces; n > 0; --n)
      out += pieces[next() % std::size(pieces)];
    return out;
  };
  for (int round = 0; round < 300; ++round) {
    auto r = base_request();
    r.from.display_name = random_text(40);
    r.to = {{random_text(40), "a@example.org"}, {random_text(200), "b@example.org"}};
    r.headers = {{"X-Random", random_text(60)}, {"Comments", random_text(30)}};
    mime::content c{random_text(80), random_text(600), round % 2 ? random_text(300) : ""};
    if (c.text.empty() && c.html.empty()) c.text = "x";
    auto msg = mime::compose(r, c, "<m@x>", date);
    check_lines(msg, 998);
    auto h = headers_of(msg);
    CHECK(h.find("\r\nBcc:") == std::string::npos);
    // Exactly the expected header fields, in order (continuation lines start with whitespace).
    std::vector<std::string> names;
    for (std::size_t i = 0; i < h.size();) {
      auto end = h.find("\r\n", i);
      if (h[i] != ' ' && h[i] != '\t') names.push_back(h.substr(i, h.find(':', i) - i));
      i = end + 2;
    }
    std::vector<std::string> want{"Date",
                                  "From",
                                  "To",
                                  "Subject",
                                  "Message-ID",
                                  "MIME-Version",
                                  "X-Iaposte-Request-Id",
                                  "X-Random",
                                  "Comments",
                                  "Content-Type"};
    if (c.html.empty()) want.push_back("Content-Transfer-Encoding");
    CHECK(names == want);
  }
}

} // namespace test_unit_mime_compose_test
