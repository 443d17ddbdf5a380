// End-to-end intake fuzz (issue 11): damaged records of every kind, interleaved with valid
// requests on 4 partitions, through the real broker, iaposted (max_in_flight 8), PostgreSQL
// and Postfix's smtp-sink. Every record ends with exactly one terminal event, every valid
// request is sent exactly once, nothing stays in flight, the committed offsets reach the end
// of every partition, and the daemon never stops.
//
//   IAPOSTE_INTAKE_FUZZ_RECORDS  records (default 1200, the CI size; the full run: 20000)
//   IAPOSTE_INTAKE_FUZZ_SEED     generator seed (default: random, printed)
#include <doctest/doctest.h>

#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include "harness.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_daemon_intake_fuzz_test {

using namespace iaposte::testing;

namespace {

struct generator {
  std::mt19937_64 rng;
  std::string run;
  std::size_t n = 0;

  std::size_t below(std::size_t k) { return k ? rng() % k : 0; }

  json valid(const std::string& id) {
    return {{"request_id", id},
            {"tenant", "fuzz"},
            {"from", {{"email", "contact@iaposte.test"}, {"name", "Équipe Fuzz"}}},
            {"to", json::array({{{"email", "client@exemple.fr"}, {"name", "Hélène"}}})},
            {"subject", "Commande {numero} pour {nom}"},
            {"text", "Bonjour {nom}, votre commande {numero} est expédiée."},
            {"html", "<p>Bonjour {nom}, votre commande <b>{numero}</b> est expédiée.</p>"},
            {"variables", {{"nom", "Hélène"}, {"numero", id}}},
            {"tags", json::array({"fuzz"})},
            {"headers", {{"X-Campagne", "noël"}}},
            {"metadata", {{"run", run}, {"n", n}}}};
  }

  // Bytes that are not UTF-8 (a lone continuation, a cut sequence, an overlong form, a
  // surrogate, 0xFF).
  std::string bad_utf8() {
    static const char* const bad[] = {"\x80",         "\xc3", "\xc0\xaf",
                                      "\xed\xa0\x80", "\xff", "\xf4\x90\x80\x80"};
    return bad[below(6)];
  }

  // The position after `"request_id":"...",` so that damage never changes a request_id
  // into another record's.
  static std::size_t after_id(const std::string& raw) {
    auto p = raw.find("\"request_id\"");
    p = raw.find(',', p);
    return p == std::string::npos ? 0 : p + 1;
  }

  raw_record next(bool& is_valid) {
    ++n;
    const std::string id = run + "-" + std::to_string(n);
    is_valid = false;
    const int partition = static_cast<int>(below(4));
    std::string raw;
    switch (below(20)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7: // valid
      is_valid = true;
      raw = valid("v-" + id).dump();
      break;
    case 8:
    case 9: { // random bytes
      raw.resize(below(600));
      for (auto& c : raw)
        c = static_cast<char>(rng());
      break;
    }
    case 10:
    case 11:
    case 12: { // byte flips after the request_id
      raw = valid("m-" + id).dump();
      const std::size_t from = after_id(raw);
      for (std::size_t k = 0, flips = 1 + below(4); k < flips && raw.size() > from; ++k)
        raw[from + below(raw.size() - from)] = static_cast<char>(rng());
      break;
    }
    case 13: { // truncated
      raw = valid("t-" + id).dump();
      raw.resize(below(raw.size()));
      break;
    }
    case 14:
    case 15: { // invalid UTF-8 in one field
      json r = valid("u-" + id);
      static const char* const fields[] = {"subject",   "text", "html",    "from",     "to",
                                           "variables", "tags", "headers", "metadata", "tenant"};
      const std::string field = fields[below(10)];
      const std::string marker = "@@BAD@@";
      if (field == "from")
        r["from"]["name"] = "Équipe " + marker;
      else if (field == "to")
        r["to"][0]["name"] = "Hé" + marker + "lène";
      else if (field == "variables")
        r["variables"]["nom"] = marker;
      else if (field == "tags")
        r["tags"].push_back(marker);
      else if (field == "headers")
        r["headers"]["X-Campagne"] = marker;
      else if (field == "metadata")
        r["metadata"]["note"] = "café " + marker;
      else
        r[field] = r.value(field, std::string()) + marker;
      raw = r.dump();
      raw.replace(raw.find(marker), marker.size(), bad_utf8());
      break;
    }
    case 16: { // wrong types
      json r = valid("w-" + id);
      static const char* const fields[] = {"to",   "subject",    "variables", "metadata",
                                           "tags", "send_at",    "from",      "headers",
                                           "ai",   "attachments"};
      const std::string field = fields[below(10)];
      static const json values[] = {5, json::object(), json::array({1, 2}), "x", nullptr, true};
      r[field] = values[below(6)];
      raw = r.dump();
      break;
    }
    case 17: { // deeply nested or large metadata, duplicate keys
      json r = valid("d-" + id);
      raw = r.dump();
      const std::size_t which = below(3);
      std::string insert;
      if (which == 0) {
        insert = "\"metadata\":" + std::string(200, '[') + std::string(200, ']') + ",";
      } else if (which == 1) {
        insert = "\"metadata\":{\"big\":\"" + std::string(20000, 'x') + "\"},";
      } else {
        insert = "\"subject\":\"double\",";
      }
      raw.insert(after_id(raw), insert);
      break;
    }
    case 18: { // not an object, or empty
      static const char* const shapes[] = {"", "[]", "\"texte\"", "42", "null", "{}", " "};
      raw = shapes[below(7)];
      break;
    }
    default: { // oversize: over max_body_bytes, rarely over max_request_bytes
      json r = valid("o-" + id);
      // The limits of this run: 640 KiB per record, 256 KiB of body (the broker takes at
      // most 1 MiB per record).
      r["text"] = std::string(below(8) == 0 ? 700 * 1024 : 300 * 1024, 'a');
      raw = r.dump();
      break;
    }
    }
    return {id, std::move(raw), partition};
  }
};

bool is_terminal(const std::string& s) {
  return !s.empty() && s != "accepted" && s != "deferred";
}

} // namespace

TEST_CASE("intake fuzz: every record ends once, every valid request is sent once, nothing "
          "is held, the daemon never stops") {
  const char* n_env = std::getenv("IAPOSTE_INTAKE_FUZZ_RECORDS");
  const std::size_t total = n_env ? std::strtoull(n_env, nullptr, 10) : 1200;
  const char* seed_env = std::getenv("IAPOSTE_INTAKE_FUZZ_SEED");
  const std::uint64_t seed =
      seed_env ? std::strtoull(seed_env, nullptr, 10) : std::random_device{}();
  MESSAGE("intake fuzz: " << total << " records, seed " << seed
                          << " (IAPOSTE_INTAKE_FUZZ_SEED to replay)");

  scenario sc("intakefuzz");
  sc.env["SMTP_SERVER"] = "127.0.0.1";
  sc.env["SMTP_PORT"] = stack_value("SMTP_SINK_PORT");
  sc.env["IAPOSTE_DELIVERY_MAX_IN_FLIGHT"] = "8";
  sc.env["IAPOSTE_KAFKA_TOPIC_PARTITIONS"] = "4";
  sc.env["IAPOSTE_LIMITS_MAX_REQUEST_BYTES"] = std::to_string(640 * 1024);
  sc.env["IAPOSTE_LIMITS_MAX_BODY_BYTES"] = std::to_string(256 * 1024);
  daemon_process d(sc.env);
  REQUIRE_MESSAGE(d.wait_log("daemon.ready", 60s), d.log());

  generator gen{std::mt19937_64(seed), sc.name};
  std::vector<raw_record> records;
  std::set<std::string> valid_ids;
  for (std::size_t i = 0; i < total; ++i) {
    bool valid = false;
    auto r = gen.next(valid);
    if (valid) valid_ids.insert("v-" + r.key);
    records.push_back(std::move(r));
  }
  const auto started = std::chrono::steady_clock::now();
  // In slices, so that a big run does not hold every payload in librdkafka's queue at once.
  for (std::size_t i = 0; i < records.size(); i += 500)
    produce_records(sc.requests,
                    std::vector<raw_record>(
                        records.begin() + static_cast<std::ptrdiff_t>(i),
                        records.begin() + static_cast<std::ptrdiff_t>(std::min(i + 500, total))));
  records.clear();

  // One terminal event per record: count them by request_id as they come.
  topic_reader status(sc.status);
  std::map<std::string, std::vector<std::string>> by_id;
  std::size_t terminal = 0, read = 0;
  const auto limit = 120s + std::chrono::milliseconds(total * 30);
  status.until(
      [&](const std::vector<iaposte::kafka::message>& seen) {
        for (; read < seen.size(); ++read) {
          auto e = json::parse(seen[read].payload, nullptr, false);
          REQUIRE_MESSAGE(e.is_object(), "a status event is not JSON: " << seen[read].payload);
          const std::string st = e.value("status", "");
          by_id[e.value("request_id", "")].push_back(st);
          if (is_terminal(st)) ++terminal;
        }
        return terminal >= total;
      },
      limit);
  // Anything more than one per record would arrive now.
  status.until([](auto&) { return false; }, 3s);
  for (std::size_t i = read; i < status.events().size(); ++i) {
    auto e = status.events()[i];
    by_id[e.value("request_id", "")].push_back(e.value("status", ""));
    if (is_terminal(e.value("status", ""))) ++terminal;
  }
  const auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::map<std::string, std::size_t> by_status;
  std::size_t ids_not_one = 0;
  for (const auto& [id, sts] : by_id) {
    std::size_t t = 0;
    for (const auto& s : sts)
      if (is_terminal(s)) {
        ++t;
        ++by_status[s];
      }
    if (t != 1) {
      ++ids_not_one;
      MESSAGE(id << ": " << t << " terminal events");
    }
  }
  std::string summary;
  for (const auto& [s, c] : by_status)
    summary += s + "=" + std::to_string(c) + " ";
  MESSAGE("intake fuzz: " << terminal << " terminal events for " << total << " records in "
                          << seconds << " s: " << summary);
  CHECK(terminal == total);
  CHECK(ids_not_one == 0);
  std::size_t valid_sent = 0;
  for (const auto& id : valid_ids) {
    const auto& sts = by_id[id];
    const auto sent = std::count(sts.begin(), sts.end(), "sent");
    if (sent == 1 && std::count_if(sts.begin(), sts.end(), is_terminal) == 1) ++valid_sent;
  }
  CHECK(valid_sent == valid_ids.size());

  // Every rejected or failed record has its copy on the DLQ.
  topic_reader dlq(sc.dlq);
  const std::size_t expected_dlq = by_status["rejected"] + by_status["failed"];
  CHECK(dlq.until([&](const auto& s) { return s.size() >= expected_dlq; }, 60s).size() ==
        expected_dlq);

  const int port = admin_port(d);
  REQUIRE(port > 0);
  double in_flight = -1;
  bool committed = false;
  std::map<int, partition_offsets> offsets;
  for (int i = 0; i < 120 && !(in_flight == 0 && committed); ++i) {
    in_flight = metric(http_get(port, "/metrics").body, "iaposte_in_flight");
    offsets = group_offsets(sc.group, sc.requests);
    committed = offsets.size() == 4;
    for (const auto& [p, o] : offsets)
      committed = committed && o.committed == o.end;
    if (!(in_flight == 0 && committed)) std::this_thread::sleep_for(250ms);
  }
  CHECK(in_flight == 0);
  for (const auto& [p, o] : offsets)
    CHECK_MESSAGE(o.committed == o.end,
                  "partition " << p << ": committed " << o.committed << ", end " << o.end);
  CHECK(metric(http_get(port, "/metrics").body, "iaposte_internal_errors_total") == 0);
  // The same process all along, and no bug reported.
  CHECK(d.wait_exit(0ms) == -1000);
  CHECK(d.log().find("\"daemon.starting\"") == d.log().rfind("\"daemon.starting\""));
  CHECK(d.log().find("worker.bug") == std::string::npos);
}

} // namespace test_integration_daemon_intake_fuzz_test
