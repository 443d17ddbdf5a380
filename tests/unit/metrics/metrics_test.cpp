// Specifies the metrics registry: exact exposition text, a parser's view of it, validation,
// and exact totals under concurrent updates.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "metrics/metrics.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_metrics_metrics_test {

using namespace iaposte;

namespace {

// A strict reader of the text format 0.0.4, enough to reject what Prometheus would reject.
struct sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct parsed {
  std::map<std::string, std::string> type; // family → TYPE
  std::map<std::string, std::string> help; // family → unescaped HELP
  std::vector<sample> samples;
};

bool is_name(const std::string& s, bool colon_ok) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (colon_ok && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::optional<double> parse_value(const std::string& s) {
  if (s == "+Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  try {
    std::size_t used = 0;
    double v = std::stod(s, &used);
    if (used != s.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The family a sample belongs to: histogram samples carry a suffix.
std::string family_of(const std::string& name, const parsed& p) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string sfx = suffix;
    if (name.size() > sfx.size() && name.ends_with(sfx)) {
      std::string base = name.substr(0, name.size() - sfx.size());
      auto it = p.type.find(base);
      if (it != p.type.end() && it->second == "histogram") return base;
    }
  }
  return name;
}

// Throws std::runtime_error naming the line that does not parse.
parsed parse_exposition(const std::string& text) {
  parsed p;
  if (!text.empty() && text.back() != '\n') throw std::runtime_error("no final newline");
  std::istringstream in(text);
  std::string line;
  std::set<std::string> seen_series;
  int n = 0;
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("line " + std::to_string(n) + ": " + why + ": " + line);
  };
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) fail("empty line");
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      std::string rest = line.substr(7);
      auto sp = rest.find(' ');
      if (sp == std::string::npos) fail("no text");
      std::string name = rest.substr(0, sp), arg = rest.substr(sp + 1);
      if (!is_name(name, true)) fail("bad family name");
      if (line[2] == 'T') {
        if (p.type.count(name)) fail("TYPE twice");
        if (!std::set<std::string>{"counter", "gauge", "histogram", "summary", "untyped"}.count(
                arg))
          fail("unknown type");
        for (const auto& s : p.samples)
          if (family_of(s.name, p) == name) fail("TYPE after samples");
        p.type[name] = arg;
      } else {
        std::string h;
        for (std::size_t i = 0; i < arg.size(); ++i) {
          if (arg[i] != '\\') {
            h += arg[i];
            continue;
          }
          if (++i == arg.size()) fail("dangling backslash");
          if (arg[i] == 'n')
            h += '\n';
          else if (arg[i] == '\\')
            h += '\\';
          else
            fail("bad escape in HELP");
        }
        if (p.help.count(name)) fail("HELP twice");
        p.help[name] = h;
      }
      continue;
    }
    if (line[0] == '#') continue; // a comment
    sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ')
      ++i;
    s.name = line.substr(0, i);
    if (!is_name(s.name, true)) fail("bad metric name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) fail("label without =");
        std::string lname = line.substr(i, eq - i);
        if (!is_name(lname, false)) fail("bad label name");
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') fail("label value not quoted");
        ++i;
        std::string v;
        for (;;) {
          if (i >= line.size()) fail("unterminated label value");
          char c = line[i++];
          if (c == '"') break;
          if (c == '\\') {
            if (i >= line.size()) fail("dangling backslash");
            char e = line[i++];
            if (e == 'n')
              v += '\n';
            else if (e == '\\' || e == '"')
              v += e;
            else
              fail("bad escape in label value");
          } else {
            v += c;
          }
        }
        if (!s.labels.emplace(lname, v).second) fail("label twice");
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) fail("unterminated label set");
      ++i; // '}'
    }
    if (i >= line.size() || line[i] != ' ') fail("no value");
    auto v = parse_value(line.substr(i + 1));
    if (!v) fail("bad value");
    s.value = *v;
    std::string key = s.name;
    for (const auto& [k, val] : s.labels)
      key += "\x1f" + k + "=" + val;
    if (!seen_series.insert(key).second) fail("series twice");
    if (!p.type.count(family_of(s.name, p))) fail("sample before its TYPE");
    p.samples.push_back(std::move(s));
  }
  // Histograms: ascending le, cumulative counts, +Inf equal to _count.
  for (const auto& [fam, t] : p.type) {
    if (t != "histogram") continue;
    std::map<std::string, std::vector<std::pair<double, double>>> buckets; // labels-key → (le, n)
    std::map<std::string, double> counts;
    for (const auto& s : p.samples) {
      std::string key;
      for (const auto& [k, val] : s.labels)
        if (k != "le") key += k + "=" + val + ",";
      if (s.name == fam + "_bucket") {
        auto le = s.labels.find("le");
        if (le == s.labels.end()) throw std::runtime_error(fam + ": bucket without le");
        auto bound = parse_value(le->second);
        if (!bound) throw std::runtime_error(fam + ": bad le");
        buckets[key].emplace_back(*bound, s.value);
      } else if (s.name == fam + "_count") {
        counts[key] = s.value;
      }
    }
    for (const auto& [key, bs] : buckets) {
      for (std::size_t i = 1; i < bs.size(); ++i)
        if (!(bs[i - 1].first < bs[i].first) || bs[i - 1].second > bs[i].second)
          throw std::runtime_error(fam + ": buckets not ascending or not cumulative");
      if (bs.empty() || !std::isinf(bs.back().first))
        throw std::runtime_error(fam + ": no +Inf bucket");
      if (!counts.count(key) || counts[key] != bs.back().second)
        throw std::runtime_error(fam + ": _count differs from the +Inf bucket");
    }
  }
  return p;
}

double value_of(const parsed& p, const std::string& name,
                const std::map<std::string, std::string>& labels = {}) {
  for (const auto& s : p.samples)
    if (s.name == name && s.labels == labels) return s.value;
  throw std::runtime_error("no sample " + name);
}

} // namespace

TEST_CASE("the exposition text is exactly the 0.0.4 format, families in registration order") {
  metrics::registry reg;
  auto& sent =
      reg.counter("iaposte_messages_total", "Messages by final status.", {{"status", "sent"}});
  auto& bounced = reg.counter("iaposte_messages_total", "ignored: the first help wins",
                              {{"status", "bounced"}});
  auto& depth = reg.gauge("iaposte_queue_depth", "Requests waiting.");
  auto& lat = reg.histogram("iaposte_smtp_seconds", "SMTP transaction time.", {0.25, 1, 2.5},
                            {{"relay", "a"}});
  reg.gauge_callback("iaposte_in_flight", "Messages being delivered.", {}, [] { return 7.0; });
  sent.inc();
  sent.inc(2);
  bounced.inc();
  depth.set(4);
  depth.dec();
  lat.observe(0.125);
  lat.observe(0.25); // on a bound: counted in that bucket (le is "less or equal")
  lat.observe(2.0);
  lat.observe(100.0);

  const std::string expected = "# HELP iaposte_messages_total Messages by final status.\n"
                               "# TYPE iaposte_messages_total counter\n"
                               "iaposte_messages_total{status=\"sent\"} 3\n"
                               "iaposte_messages_total{status=\"bounced\"} 1\n"
                               "# HELP iaposte_queue_depth Requests waiting.\n"
                               "# TYPE iaposte_queue_depth gauge\n"
                               "iaposte_queue_depth 3\n"
                               "# HELP iaposte_smtp_seconds SMTP transaction time.\n"
                               "# TYPE iaposte_smtp_seconds histogram\n"
                               "iaposte_smtp_seconds_bucket{relay=\"a\",le=\"0.25\"} 2\n"
                               "iaposte_smtp_seconds_bucket{relay=\"a\",le=\"1\"} 2\n"
                               "iaposte_smtp_seconds_bucket{relay=\"a\",le=\"2.5\"} 3\n"
                               "iaposte_smtp_seconds_bucket{relay=\"a\",le=\"+Inf\"} 4\n"
                               "iaposte_smtp_seconds_sum{relay=\"a\"} 102.375\n"
                               "iaposte_smtp_seconds_count{relay=\"a\"} 4\n"
                               "# HELP iaposte_in_flight Messages being delivered.\n"
                               "# TYPE iaposte_in_flight gauge\n"
                               "iaposte_in_flight 7\n";
  const std::string got = reg.render_prometheus();
  CHECK(got == expected);
  CHECK_NOTHROW(parse_exposition(got));
}

TEST_CASE("help text and label values are escaped and read back unchanged") {
  metrics::registry reg;
  const std::string nasty = "a\\b\"c\nd}e,f=g";
  reg.counter("odd_total", "line one\nback\\slash \"quotes\" kept", {{"v", nasty}}).inc();
  const std::string text = reg.render_prometheus();
  CHECK(text.find("# HELP odd_total line one\\nback\\\\slash \"quotes\" kept\n") !=
        std::string::npos);
  CHECK(text.find("odd_total{v=\"a\\\\b\\\"c\\nd}e,f=g\"} 1\n") != std::string::npos);
  auto p = parse_exposition(text);
  CHECK(p.help.at("odd_total") == "line one\nback\\slash \"quotes\" kept");
  CHECK(value_of(p, "odd_total", {{"v", nasty}}) == 1);
}

TEST_CASE("the reader rejects malformed exposition (so that it can catch a renderer bug)") {
  CHECK_THROWS(parse_exposition("x 1"));                                     // no newline
  CHECK_THROWS(parse_exposition("# TYPE x counter\nx{a=\"1} 1\n"));          // unterminated
  CHECK_THROWS(parse_exposition("# TYPE x counter\nx{a=\"\\t\"} 1\n"));      // bad escape
  CHECK_THROWS(parse_exposition("x 1\n# TYPE x counter\n"));                 // TYPE late
  CHECK_THROWS(parse_exposition("# TYPE x counter\nx 1\nx 2\n"));            // twice
  CHECK_THROWS(parse_exposition("# TYPE x counter\nx one\n"));               // value
  CHECK_THROWS(parse_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\n" // not cumulative
                                "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"));
  CHECK_THROWS(parse_exposition("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\n"));
  CHECK_NOTHROW(parse_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
                                 "h_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"));
}

TEST_CASE("special values: NaN goes to +Inf only, gauges render +Inf, -Inf and NaN") {
  metrics::registry reg;
  auto& h = reg.histogram("h_seconds", "h", {1});
  h.observe(std::numeric_limits<double>::quiet_NaN());
  CHECK(h.bucket_count(0) == 0);
  CHECK(h.bucket_count(1) == 1);
  reg.gauge("g_pos", "g").set(std::numeric_limits<double>::infinity());
  reg.gauge("g_neg", "g").set(-std::numeric_limits<double>::infinity());
  reg.gauge("g_nan", "g").set(std::numeric_limits<double>::quiet_NaN());
  const std::string text = reg.render_prometheus();
  CHECK(text.find("g_pos +Inf\n") != std::string::npos);
  CHECK(text.find("g_neg -Inf\n") != std::string::npos);
  CHECK(text.find("g_nan NaN\n") != std::string::npos);
  CHECK_NOTHROW(parse_exposition(text));
}

TEST_CASE("durations are observed in seconds") {
  metrics::registry reg;
  auto& h = reg.histogram("d_seconds", "d", metrics::latency_buckets());
  h.observe(std::chrono::milliseconds(1500));
  CHECK(h.sum() == doctest::Approx(1.5));
  CHECK(h.count() == 1);
  auto p = parse_exposition(reg.render_prometheus());
  CHECK(value_of(p, "d_seconds_bucket", {{"le", "1"}}) == 0);
  CHECK(value_of(p, "d_seconds_bucket", {{"le", "2.5"}}) == 1);
}

TEST_CASE("registering again hands back the same metric; conflicts and bad names throw") {
  metrics::registry reg;
  auto& a = reg.counter("c_total", "c", {{"k", "v"}});
  CHECK(&reg.counter("c_total", "c", {{"k", "v"}}) == &a);
  CHECK(&reg.counter("c_total", "c", {{"k", "w"}}) != &a);
  auto& h = reg.histogram("h", "h", {1, 2});
  CHECK(&reg.histogram("h", "h", {1, 2}) == &h);
  CHECK_THROWS_AS(reg.histogram("h", "h", {1, 3}, {{"x", "y"}}), std::invalid_argument);
  CHECK_THROWS_AS(reg.gauge("c_total", "now a gauge"), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("9starts_with_digit", "x"), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("has-dash", "x"), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("ok_total", "x", {{"bad-label", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("ok_total", "x", {{"__reserved", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("ok_total", "x", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  CHECK_THROWS_AS(reg.histogram("hh", "x", {1}, {{"le", "1"}}), std::invalid_argument);
  CHECK_THROWS_AS(reg.histogram("hh", "x", {2, 1}), std::invalid_argument);
  CHECK_THROWS_AS(reg.histogram("hh", "x", {1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(reg.histogram("hh", "x", {std::numeric_limits<double>::infinity()}),
                  std::invalid_argument);
  reg.gauge_callback("cb", "cb", {}, [] { return 1.0; });
  CHECK_THROWS_AS(reg.gauge_callback("cb", "cb", {}, [] { return 2.0; }), std::invalid_argument);
  CHECK_THROWS_AS(reg.gauge("cb", "cb"), std::invalid_argument);
  CHECK_THROWS_AS(reg.gauge_callback("cb2", "cb", {}, nullptr), std::invalid_argument);
  // A metric name may contain a colon (recording rules), a label name may not.
  CHECK_NOTHROW(reg.counter("job:requests_total", "x"));
  CHECK_THROWS_AS(reg.counter("x_total", "x", {{"a:b", "v"}}), std::invalid_argument);
}

TEST_CASE("callback gauges are evaluated at every scrape") {
  metrics::registry reg;
  std::atomic<int> in_flight{0};
  reg.gauge_callback("in_flight", "x", {{"pool", "a"}}, [&] { return double(in_flight.load()); });
  CHECK(value_of(parse_exposition(reg.render_prometheus()), "in_flight", {{"pool", "a"}}) == 0);
  in_flight = 12;
  CHECK(value_of(parse_exposition(reg.render_prometheus()), "in_flight", {{"pool", "a"}}) == 12);
}

TEST_CASE("concurrent updates from several threads add up exactly, while scrapes run") {
  metrics::registry reg;
  auto& c = reg.counter("hits_total", "x");
  auto& g = reg.gauge("level", "x");
  auto& h = reg.histogram("lat_seconds", "x", {0.5, 1.5});
  constexpr int threads = 4, per_thread = 100000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) {
      auto p = parse_exposition(reg.render_prometheus()); // throws (terminates) if torn
      (void)p;
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        c.inc();
        g.add(1.0);
        h.observe(t % 2 ? 1.0 : 2.0);
        // Registration from other threads meanwhile must not disturb updates.
        if (i % 25000 == 0) reg.counter("late_total", "x", {{"t", std::to_string(t)}}).inc();
      }
    });
  for (auto& w : workers)
    w.join();
  done = true;
  scraper.join();
  CHECK(c.value() == std::uint64_t(threads) * per_thread);
  CHECK(g.value() == double(threads) * per_thread);
  CHECK(h.count() == std::uint64_t(threads) * per_thread);
  CHECK(h.bucket_count(0) == 0);
  CHECK(h.bucket_count(1) == std::uint64_t(threads / 2) * per_thread);
  CHECK(h.bucket_count(2) == std::uint64_t(threads / 2) * per_thread);
  CHECK(h.sum() == doctest::Approx(1.5 * threads * per_thread));
  auto p = parse_exposition(reg.render_prometheus());
  CHECK(value_of(p, "hits_total") == threads * per_thread);
  CHECK(value_of(p, "lat_seconds_count") == threads * per_thread);
  CHECK(value_of(p, "late_total", {{"t", "0"}}) == 4);
}

} // namespace test_unit_metrics_metrics_test
