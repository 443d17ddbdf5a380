// Specifies the reply parser (RFC 5321 §4.2, RFC 3463) and EHLO capability parsing.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "smtp/reply.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_reply_test {

using namespace iaposte::smtp;
namespace fs = std::filesystem;

namespace {

struct fed {
  reply_parser::state st = reply_parser::state::need_more;
  reply r;
  std::string error;
  std::size_t used = 0;
};

// Feeds `input` in chunks of `chunk` bytes, stopping at the first complete reply or error.
fed feed(std::string_view input, std::size_t chunk, std::size_t max_line = 4096,
         std::size_t max_lines = 256) {
  reply_parser p(max_line, max_lines);
  fed out;
  while (out.used < input.size()) {
    std::size_t used = 0;
    out.st = p.feed(input.substr(out.used, chunk), used);
    out.used += used;
    if (out.st == reply_parser::state::complete) {
      out.r = p.take();
      break;
    }
    if (out.st == reply_parser::state::error) {
      out.error = p.error();
      break;
    }
    REQUIRE(used == std::min(chunk, input.size() - (out.used - used)));
  }
  return out;
}

std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    if (c == 'r')
      out += '\r';
    else if (c == 'n')
      out += '\n';
    else if (c == 't')
      out += '\t';
    else if (c == 'x' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else
      out += c;
  }
  return out;
}

struct vector_case {
  std::string name;
  std::multimap<std::string, std::string> keys;
  std::string get(const std::string& k, std::string dflt = {}) const {
    auto it = keys.find(k);
    return it == keys.end() ? dflt : it->second;
  }
};

std::vector<vector_case> load_vectors() {
  std::vector<vector_case> out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(IAPOSTE_TEST_DATA) / "smtp" / "replies"))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    vector_case c;
    c.name = f.filename().string();
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      c.keys.emplace(line.substr(0, colon), value);
    }
    out.push_back(std::move(c));
  }
  return out;
}

const char* state_name(reply_parser::state s) {
  switch (s) {
  case reply_parser::state::complete:
    return "complete";
  case reply_parser::state::error:
    return "error";
  default:
    return "need_more";
  }
}

} // namespace

TEST_CASE("every reply vector in tests/data/smtp/replies parses as specified, whole and byte by "
          "byte") {
  auto cases = load_vectors();
  REQUIRE(cases.size() >= 20);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    std::string input = unescape(c.get("input"));
    std::size_t max_line = std::stoul(c.get("max_line", "4096"));
    std::size_t max_lines = std::stoul(c.get("max_lines", "256"));
    for (std::size_t chunk : {input.size() + 1, std::size_t{1}, std::size_t{7}}) {
      CAPTURE(chunk);
      fed f = feed(input, chunk, max_line, max_lines);
      CHECK(std::string(state_name(f.st)) == c.get("state"));
      if (f.st == reply_parser::state::complete) {
        CHECK(f.r.code == std::stoi(c.get("code")));
        CHECK(f.r.enhanced == c.get("enhanced"));
        std::vector<std::string> lines;
        auto [b, e] = c.keys.equal_range("line");
        for (auto it = b; it != e; ++it)
          lines.push_back(it->second);
        CHECK(f.r.lines == lines);
        CHECK(input.substr(f.used) == unescape(c.get("rest")));
      }
      if (f.st == reply_parser::state::error) {
        CHECK_MESSAGE(f.error.find(c.get("error")) != std::string::npos, f.error);
      }
    }
  }
}

TEST_CASE("a multi-line reply split at every byte position parses the same") {
  const std::string input = "250-mail.example.com\r\n250-8BITMIME\r\n250 2.0.0 done\r\n";
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    CAPTURE(cut);
    reply_parser p;
    std::size_t used = 0;
    auto st = p.feed(std::string_view(input).substr(0, cut), used);
    CHECK(used == cut);
    if (cut < input.size()) {
      CHECK(st == reply_parser::state::need_more);
      st = p.feed(std::string_view(input).substr(cut), used);
      CHECK(used == input.size() - cut);
    }
    REQUIRE(st == reply_parser::state::complete);
    reply r = p.take();
    CHECK(r.code == 250);
    CHECK(r.enhanced == "");
    CHECK(r.lines == std::vector<std::string>{"mail.example.com", "8BITMIME", "2.0.0 done"});
  }
}

TEST_CASE("the parser is reusable: take() starts the next reply") {
  reply_parser p;
  std::string_view two = "220 ready\r\n250 ok\r\n";
  std::size_t used = 0;
  REQUIRE(p.feed(two, used) == reply_parser::state::complete);
  CHECK(p.take().code == 220);
  std::size_t used2 = 0;
  REQUIRE(p.feed(two.substr(used), used2) == reply_parser::state::complete);
  CHECK(used + used2 == two.size());
  reply r = p.take();
  CHECK(r.code == 250);
  CHECK(r.text() == "ok");
}

TEST_CASE("feeding a complete reply again before take() consumes nothing") {
  reply_parser p;
  std::size_t used = 0;
  REQUIRE(p.feed("250 ok\r\n", used) == reply_parser::state::complete);
  CHECK(p.feed("250 more\r\n", used) == reply_parser::state::complete);
  CHECK(used == 0);
}

TEST_CASE("an error is sticky: the connection must be dropped") {
  reply_parser p;
  std::size_t used = 0;
  REQUIRE(p.feed("garbage\r\n", used) == reply_parser::state::error);
  CHECK(p.feed("250 ok\r\n", used) == reply_parser::state::error);
  CHECK(used == 0);
}

TEST_CASE("a 1 MiB reply line is refused after max_line bytes, without buffering it") {
  reply_parser p(4096);
  std::string chunk(64 * 1024, 'x');
  std::size_t used = 0;
  REQUIRE(p.feed("250 ", used) == reply_parser::state::need_more);
  reply_parser::state st = reply_parser::state::need_more;
  std::size_t total = 0;
  for (int i = 0; i < 16 && st == reply_parser::state::need_more; ++i) {
    st = p.feed(chunk, used);
    total += used;
  }
  CHECK(st == reply_parser::state::error);
  CHECK(total <= 4096);
  CHECK(p.error() == "reply line longer than 4096 bytes");
}

TEST_CASE("reply helpers: text joins lines, classes follow the first digit") {
  reply r{451, "4.3.0", {"first", "second"}};
  CHECK(r.text() == "first second");
  CHECK(r.transient());
  CHECK_FALSE(r.permanent());
  CHECK_FALSE(r.positive());
  CHECK(reply{354, "", {}}.positive());
  CHECK(reply{554, "", {}}.permanent());
}

TEST_CASE("what asks to slow down: 421, or a 4xx with an enhanced 4.7.x; not greylisting or a "
          "local error") {
  CHECK(reply{421, "", {}}.asks_to_slow_down());
  CHECK(reply{421, "4.3.2", {}}.asks_to_slow_down());
  CHECK(reply{451, "4.7.1", {}}.asks_to_slow_down()); // Gmail's "rate limited"
  CHECK(reply{450, "4.7.0", {}}.asks_to_slow_down());
  CHECK(reply{452, "4.7.28", {}}.asks_to_slow_down());
  CHECK_FALSE(reply{451, "4.3.0", {}}.asks_to_slow_down()); // local error (chaos's 20% of 4xx)
  CHECK_FALSE(reply{451, "", {}}.asks_to_slow_down());
  CHECK_FALSE(reply{450, "4.2.1", {}}.asks_to_slow_down()); // mailbox busy, greylisting
  CHECK_FALSE(reply{452, "4.5.3", {}}.asks_to_slow_down()); // too many recipients
  CHECK_FALSE(reply{550, "5.7.1", {}}.asks_to_slow_down()); // permanent: not shaping's business
  CHECK_FALSE(reply{250, "2.0.0", {}}.asks_to_slow_down());
  CHECK_FALSE(reply{0, "", {}}.asks_to_slow_down());      // no reply at all
  CHECK_FALSE(reply{451, "4.7", {}}.asks_to_slow_down()); // not a full enhanced status
}

TEST_CASE("a bad address: an enhanced 5.1.x, from the server or decided here") {
  CHECK(reply{550, "5.1.1", {}}.bad_address());       // no such mailbox
  CHECK(reply{553, "5.1.3", {}}.bad_address());       // bad syntax
  CHECK(reply{0, "5.1.3", {}}.bad_address());         // no A-label form (classify::no_ascii_form)
  CHECK_FALSE(reply{550, "5.7.1", {}}.bad_address()); // policy, not the address
  CHECK_FALSE(reply{550, "", {}}.bad_address());      // no enhanced code: unknown
  CHECK_FALSE(reply{450, "4.1.1", {}}.bad_address()); // for now only
  CHECK_FALSE(reply{550, "5.1", {}}.bad_address());   // not a full enhanced status
}

TEST_CASE("completion is 2xx only; closing is 421") {
  CHECK(reply{250, "", {}}.completion());
  CHECK_FALSE(reply{354, "", {}}.completion());
  CHECK(reply{354, "", {}}.positive());
  CHECK(reply{421, "", {}}.closing());
  CHECK_FALSE(reply{450, "", {}}.closing());
}

TEST_CASE("EHLO capabilities: keywords are case-insensitive, the first line is the domain") {
  reply r{250,
          "",
          {"STARTTLS pipelining", "starttls", "Pipelining", "8bitmime", "SMTPUTF8",
           "EnhancedStatusCodes", "SIZE 35882577", "auth login Plain XOAUTH2"}};
  capabilities c = parse_ehlo(r);
  CHECK(c.starttls);
  CHECK(c.pipelining);
  CHECK(c.eightbitmime);
  CHECK(c.smtputf8);
  CHECK(c.enhanced_status_codes);
  CHECK(c.size == 35882577);
  CHECK(c.auth_plain);
  CHECK(c.auth_login);
  CHECK(c.auth_xoauth2);
}

TEST_CASE("EHLO capabilities: the first line never counts as a keyword") {
  capabilities c = parse_ehlo(reply{250, "", {"STARTTLS"}});
  CHECK_FALSE(c.starttls);
}

TEST_CASE("EHLO capabilities: the old AUTH=LOGIN PLAIN form is understood") {
  capabilities c = parse_ehlo(reply{250, "", {"mx.example", "AUTH=LOGIN PLAIN"}});
  CHECK(c.auth_login);
  CHECK(c.auth_plain);
  CHECK_FALSE(c.auth_xoauth2);
}

TEST_CASE("EHLO capabilities: SIZE without a number, or a bad one, means no limit announced") {
  CHECK(parse_ehlo(reply{250, "", {"mx", "SIZE"}}).size == 0);
  CHECK(parse_ehlo(reply{250, "", {"mx", "SIZE 12x"}}).size == 0);
  CHECK(parse_ehlo(reply{250, "", {"mx", "SIZE 99999999999999999999999"}}).size == 0);
  // ... but SIZE is offered all the same: the client sends SIZE= (RFC 1870 §4).
  CHECK(parse_ehlo(reply{250, "", {"mx", "SIZE"}}).size_offered);
  CHECK(parse_ehlo(reply{250, "", {"mx", "SIZE 1000"}}).size == 1000);
  CHECK_FALSE(parse_ehlo(reply{250, "", {"mx", "PIPELINING"}}).size_offered);
}

TEST_CASE("EHLO capabilities: smtp-sink's list ending with a bare 250 parses") {
  const std::string wire = "250-smtp-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-AUTH PLAIN "
                           "LOGIN\r\n250-XCLIENT NAME HELO\r\n250-ENHANCEDSTATUSCODES\r\n"
                           "250-DSN\r\n250 \r\n";
  reply_parser p;
  std::size_t used = 0;
  REQUIRE(p.feed(wire, used) == reply_parser::state::complete);
  capabilities c = parse_ehlo(p.take());
  CHECK(c.pipelining);
  CHECK(c.eightbitmime);
  CHECK(c.auth_plain);
  CHECK(c.auth_login);
  CHECK(c.enhanced_status_codes);
  CHECK_FALSE(c.starttls);
  CHECK(c.size == 0);
}

TEST_CASE("random well-formed replies, cut at random points, parse back to what was sent") {
  std::mt19937 rng(20240611); // fixed: a failure reproduces
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int round = 0; round < 300; ++round) {
    std::string wire;
    std::vector<reply> sent;
    for (int n = pick(1, 4); n > 0; --n) {
      reply r;
      r.code = pick(2, 5) * 100 + pick(0, 5) * 10 + pick(0, 9);
      int lines = pick(1, 5);
      for (int l = 0; l < lines; ++l) {
        std::string text;
        for (int k = pick(0, 40); k > 0; --k)
          text += static_cast<char>(pick(0x20, 0x7e));
        r.lines.push_back(text);
        wire += std::to_string(r.code) + (l + 1 < lines ? "-" : " ") + text +
                (pick(0, 3) ? "\r\n" : "\n");
      }
      sent.push_back(std::move(r));
    }
    reply_parser p;
    std::vector<reply> got;
    std::size_t pos = 0;
    while (pos < wire.size()) {
      std::size_t chunk = std::min<std::size_t>(pick(1, 64), wire.size() - pos);
      std::string_view piece(wire.data() + pos, chunk);
      while (!piece.empty()) {
        std::size_t used = 0;
        auto st = p.feed(piece, used);
        REQUIRE(st != reply_parser::state::error);
        piece.remove_prefix(used);
        if (st == reply_parser::state::complete) got.push_back(p.take());
      }
      pos += chunk;
    }
    REQUIRE(got.size() == sent.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].code == sent[i].code);
      CHECK(got[i].lines == sent[i].lines);
    }
  }
}

TEST_CASE("random bytes never crash the parser and never make it hold more than max_line") {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string junk(std::uniform_int_distribution<int>(0, 300)(rng), '\0');
    for (auto& c : junk)
      c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    reply_parser p(64, 4);
    std::size_t used = 0;
    auto st = p.feed(junk, used);
    CHECK(used <= junk.size());
    if (st == reply_parser::state::error) CHECK(!p.error().empty());
    if (st == reply_parser::state::complete) CHECK(p.take().lines.size() <= 4);
  }
}

} // namespace test_unit_smtp_reply_test
