// iaposte: the operator's command-line tool (enqueue requests, tail status events, migrate,
// look up a request's history).
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ai/style.hpp"
#include "cli_dkim.hpp"
#include "cli_content.hpp"
#include "core/status.hpp"
#include "kafka/kafka.hpp"
#include "log/log.hpp"
#include "store/store.hpp"

using namespace iaposte;
using nlohmann::json;

namespace {

constexpr const char* usage = R"(usage: iaposte <command> [options]

commands:
  enqueue   put send requests on the requests topic
  tail      print status events as they arrive
  migrate   apply the PostgreSQL migrations
  status    print a request's current state and history from PostgreSQL
  style     set or print a style profile for AI-written mail (PostgreSQL)
  dkim      generate a DKIM key and its DNS record (iaposte dkim --help)
  template  store, print, list and activate versioned templates (PostgreSQL)
  contacts  import and export contacts as CSV, look one up or delete it (PostgreSQL)
  signature set or print a sender's signature (PostgreSQL)
  suppress  add, remove, list and check suppressed addresses (PostgreSQL)

common options:
  --brokers HOSTS       Kafka bootstrap servers (default $KAFKA_BROKERS or 127.0.0.1:9092)
  --database-url URL    PostgreSQL (default $DATABASE_URL)

enqueue [--topic T] (--file FILE | fields...)
  --file FILE           one JSON request, or JSON lines (one request per line); - for stdin
  --request-id ID       (default: a random id)   --tenant T (default: default)
  --from ADDR  --to ADDR (repeatable)  --cc ADDR  --bcc ADDR  --reply-to ADDR
  --subject S  --text T  --html H  --var NAME=VALUE (repeatable)  --metadata JSON
  --stamp               add metadata.enqueued_at (ms since the epoch) to each request
  --rate N              pace production at N requests per second (default: as fast as possible)
  --quiet               do not print the request ids
  exit: 0 every request acknowledged by the broker, 1 a delivery failed, 2 usage

tail [--topic T] [--from-beginning] [--prefix P] [--status S,S] [--terminal]
     [--count N] [--timeout SECONDS]
  prints one JSON event per line; with --count, exits 0 after N matching events;
  exits 1 when --timeout passes first

status --tenant T --request-id ID
  exit: 0 found, 1 not found

style set --tenant T [--sender ADDR] [--tone TEXT] [--formality tu|vous] [--language L]
          [--signature TEXT]
  replaces the profile of (tenant, sender); without --sender, the tenant's default.
  Options not given are left empty.
style get --tenant T [--sender ADDR]
  prints the profile that applies (the sender's, else the tenant default) as JSON;
  exit: 0 found, 1 none
)";

struct args {
  std::map<std::string, std::vector<std::string>> opts;
  std::set<std::string> flags;
  const std::string& one(const std::string& k, const std::string& def = "") const {
    auto it = opts.find(k);
    return it == opts.end() || it->second.empty() ? def : it->second.back();
  }
  bool has(const std::string& k) const { return opts.count(k) || flags.count(k); }
};

const std::set<std::string> boolean_flags = {"--stamp", "--quiet", "--from-beginning", "--terminal",
                                             "--help"};

args parse_args(int argc, char** argv, int from) {
  args a;
  for (int i = from; i < argc; ++i) {
    std::string k = argv[i];
    if (boolean_flags.count(k)) {
      a.flags.insert(k);
    } else if (k.rfind("--", 0) == 0 && i + 1 < argc) {
      a.opts[k].push_back(argv[++i]);
    } else {
      throw std::invalid_argument("unexpected argument: " + k);
    }
  }
  return a;
}

// The options each command takes, besides the common ones: anything else is a usage error
// (a misspelt option silently ignored would, say, store a style profile without its tone).
const std::map<std::string, std::set<std::string>> known_options = {
    {"enqueue",
     {"--topic", "--file", "--request-id", "--tenant", "--from", "--to", "--cc", "--bcc",
      "--reply-to", "--subject", "--text", "--html", "--var", "--metadata", "--stamp", "--rate",
      "--quiet"}},
    {"tail",
     {"--topic", "--from-beginning", "--prefix", "--status", "--terminal", "--count", "--timeout"}},
    {"migrate", {}},
    {"status", {"--tenant", "--request-id"}},
    {"style", {"--tenant", "--sender", "--tone", "--formality", "--language", "--signature"}},
};
const std::set<std::string> common_options = {"--brokers", "--database-url", "--help"};

void check_options(const std::string& cmd, const args& a) {
  auto known = known_options.find(cmd);
  if (known == known_options.end()) return; // an unknown command is reported by main
  auto check = [&](const std::string& k) {
    if (!known->second.count(k) && !common_options.count(k))
      throw std::invalid_argument("unknown option " + k + " (iaposte --help lists them)");
  };
  for (const auto& [k, v] : a.opts)
    check(k);
  for (const auto& k : a.flags)
    check(k);
}

std::string env_or(const char* name, const std::string& def) {
  const char* v = std::getenv(name);
  return v && *v ? v : def;
}

std::string brokers(const args& a) {
  return a.one("--brokers", env_or("KAFKA_BROKERS", "127.0.0.1:9092"));
}

std::string random_id() {
  std::random_device rd;
  std::ostringstream os;
  os << std::hex << rd() << rd();
  return "req-" + os.str();
}

int enqueue(const args& a) {
  std::vector<std::string> payloads;
  if (a.has("--file")) {
    std::string path = a.one("--file");
    std::ifstream file;
    std::istream* in = &std::cin;
    if (path != "-") {
      file.open(path);
      if (!file) {
        std::cerr << "iaposte enqueue: cannot read " << path << "\n";
        return 2;
      }
      in = &file;
    }
    std::stringstream all;
    all << in->rdbuf();
    std::string text = all.str();
    // A whole-file JSON document, else JSON lines.
    if (json::accept(text)) {
      payloads.push_back(text);
    } else {
      std::istringstream lines(text);
      for (std::string line; std::getline(lines, line);)
        if (line.find_first_not_of(" \t\r") != std::string::npos) payloads.push_back(line);
    }
  } else {
    json r;
    r["request_id"] = a.one("--request-id", random_id());
    r["tenant"] = a.one("--tenant", "default");
    if (!a.has("--from") || !a.has("--subject")) {
      std::cerr << "iaposte enqueue: --from and --subject are required (or --file)\n";
      return 2;
    }
    r["from"] = a.one("--from");
    for (const char* f : {"--to", "--cc", "--bcc"}) {
      auto it = a.opts.find(f);
      if (it != a.opts.end()) r[std::string(f + 2)] = it->second;
    }
    if (a.has("--reply-to")) r["reply_to"] = a.one("--reply-to");
    r["subject"] = a.one("--subject");
    if (a.has("--text")) r["text"] = a.one("--text");
    if (a.has("--html")) r["html"] = a.one("--html");
    if (auto it = a.opts.find("--var"); it != a.opts.end()) {
      for (const auto& kv : it->second) {
        auto eq = kv.find('=');
        if (eq == std::string::npos) {
          std::cerr << "iaposte enqueue: --var expects NAME=VALUE, got " << kv << "\n";
          return 2;
        }
        r["variables"][kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
    if (a.has("--metadata")) {
      try {
        r["metadata"] = json::parse(a.one("--metadata"));
      } catch (const json::exception& e) {
        std::cerr << "iaposte enqueue: --metadata is not JSON: " << e.what() << "\n";
        return 2;
      }
    }
    payloads.push_back(r.dump());
  }

  kafka::producer producer(
      {brokers(a), std::chrono::milliseconds(5), std::chrono::seconds(30), {}});
  const std::string topic = a.one("--topic", "iaposte.requests");
  std::mutex mu;
  std::condition_variable cv;
  std::size_t pending = payloads.size(), failed = 0;
  const double rate = std::stod(a.one("--rate", "0"));
  const auto started = std::chrono::steady_clock::now();
  std::size_t index = 0;
  for (auto& p : payloads) {
    if (rate > 0)
      std::this_thread::sleep_until(
          started + std::chrono::microseconds(static_cast<long long>(1e6 * index / rate)));
    ++index;
    std::string key;
    json doc = json::parse(p, nullptr, false);
    if (doc.is_object()) {
      if (doc.contains("request_id") && doc["request_id"].is_string())
        key = doc["request_id"].get<std::string>();
      if (a.has("--stamp")) {
        doc["metadata"]["enqueued_at"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count();
        p = doc.dump();
      }
    }
    producer.produce(topic, key, p, [&, key](std::string err) {
      std::lock_guard lock(mu);
      if (!err.empty()) {
        ++failed;
        std::cerr << "iaposte enqueue: " << (key.empty() ? "(no id)" : key) << ": " << err << "\n";
      } else if (!a.has("--quiet")) {
        std::cout << key << "\n";
      }
      if (--pending == 0) cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return pending == 0; });
  return failed ? 1 : 0;
}

int tail(const args& a) {
  kafka::consumer consumer({brokers(a),
                            "iaposte-tail-" + random_id(),
                            {a.one("--topic", "iaposte.status")},
                            false,
                            a.has("--from-beginning") ? "earliest" : "latest",
                            1000,
                            std::chrono::milliseconds(1000),
                            {{"enable.auto.commit", "false"}}});
  const std::string prefix = a.one("--prefix");
  std::set<std::string> statuses;
  {
    std::istringstream ss(a.one("--status"));
    for (std::string s; std::getline(ss, s, ',');)
      if (!s.empty()) statuses.insert(s);
  }
  long count = std::stol(a.one("--count", "0"));
  double timeout = std::stod(a.one("--timeout", "0"));
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<long>(timeout * 1000));
  long seen = 0;
  kafka::message m;
  while (count == 0 || seen < count) {
    if (timeout > 0 && std::chrono::steady_clock::now() > deadline) {
      std::cerr << "iaposte tail: timeout after " << seen << " matching events\n";
      return 1;
    }
    if (!consumer.poll_one(m, std::chrono::milliseconds(200))) continue;
    json ev = json::parse(m.payload, nullptr, false);
    if (!ev.is_object()) continue;
    std::string id = ev.value("request_id", "");
    std::string st = ev.value("status", "");
    if (!prefix.empty() && id.rfind(prefix, 0) != 0) continue;
    if (!statuses.empty() && !statuses.count(st)) continue;
    if (a.has("--terminal")) {
      auto s = core::status_from_string(st);
      if (!s || !core::is_terminal(*s)) continue;
    }
    std::cout << m.payload << std::endl;
    ++seen;
  }
  return 0;
}

int migrate(const args& a) {
  store::store_config cfg;
  cfg.url = a.one("--database-url", env_or("DATABASE_URL", ""));
  if (cfg.url.empty()) {
    std::cerr << "iaposte migrate: --database-url or DATABASE_URL is required\n";
    return 2;
  }
  store::store db(cfg);
  db.migrate();
  for (const auto& m : store::migration_names())
    std::cout << m << "\n";
  return 0;
}

int status(const args& a) {
  store::store_config cfg;
  cfg.url = a.one("--database-url", env_or("DATABASE_URL", ""));
  if (cfg.url.empty() || !a.has("--tenant") || !a.has("--request-id")) {
    std::cerr << "iaposte status: --tenant, --request-id and a database URL are required\n";
    return 2;
  }
  store::store db(cfg);
  auto row = db.find(a.one("--tenant"), a.one("--request-id"));
  if (!row) {
    std::cerr << "iaposte status: no such request\n";
    return 1;
  }
  json out{{"tenant", row->tenant},     {"request_id", row->request_id},
           {"state", row->state},       {"message_id", row->message_id},
           {"attempts", row->attempts}, {"last_reply", row->last_reply}};
  json hist = json::array();
  for (const auto& e : db.history(row->tenant, row->request_id)) {
    json h{{"status", core::to_string(e.status)},
           {"attempt", e.attempt},
           {"at", core::format_time(e.at)}};
    if (e.smtp) h["smtp"] = {{"code", e.smtp->code}, {"text", e.smtp->text}};
    if (!e.reason.empty()) h["reason"] = e.reason;
    hist.push_back(h);
  }
  out["history"] = hist;
  std::cout << out.dump(2) << "\n";
  return 0;
}

int style(const std::string& sub, const args& a) {
  const std::string url = a.one("--database-url", env_or("DATABASE_URL", ""));
  if ((sub != "set" && sub != "get") || url.empty() || !a.has("--tenant")) {
    std::cerr << "iaposte style: set|get, --tenant and a database URL are required\n";
    return 2;
  }
  if (sub == "set") {
    ai::style_profile p{a.one("--tenant"),    a.one("--sender"),   a.one("--tone"),
                        a.one("--formality"), a.one("--language"), a.one("--signature")};
    ai::set_style(url, p);
    return 0;
  }
  auto p = ai::get_style(url, a.one("--tenant"), a.one("--sender"));
  if (!p) {
    std::cerr << "iaposte style: no profile\n";
    return 1;
  }
  std::cout << json{{"tenant", p->tenant},     {"sender", p->sender},
                    {"tone", p->tone},         {"formality", p->formality},
                    {"language", p->language}, {"signature", p->signature}}
                   .dump(2)
            << "\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << usage << cli::content_usage;
    return argc < 2 ? 2 : 0;
  }
  log::setup(env_or("LOG_LEVEL", "warn"));
  std::string cmd = argv[1];
  if (cmd == "dkim") return cmd_dkim({argv + 2, argv + argc});
  try {
    if (cmd == "template") return cli::template_command(argc, argv);
    if (cmd == "contacts") return cli::contacts_command(argc, argv);
    if (cmd == "signature") return cli::signature_command(argc, argv);
    if (cmd == "suppress") return cli::suppress_command(argc, argv);
    if (cmd == "style") {
      if (argc < 3) throw std::invalid_argument("style: expected set or get");
      args a = parse_args(argc, argv, 3);
      check_options(cmd, a);
      return style(argv[2], a);
    }
    args a = parse_args(argc, argv, 2);
    if (a.has("--help")) {
      std::cout << usage << cli::content_usage;
      return 0;
    }
    check_options(cmd, a);
    if (cmd == "enqueue") return enqueue(a);
    if (cmd == "tail") return tail(a);
    if (cmd == "migrate") return migrate(a);
    if (cmd == "status") return status(a);
    std::cerr << "iaposte: unknown command " << cmd << "\n" << usage;
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "iaposte " << cmd << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "iaposte " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
