// The integration harness: stack file, process control, Kafka helpers, maildir reading.
#include "harness.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <doctest/doctest.h>
#include <librdkafka/rdkafkacpp.h>

extern char** environ;

namespace iaposte::testing {
namespace fs = std::filesystem;

std::map<std::string, std::string> stack() {
  static const std::map<std::string, std::string> values = [] {
    const char* p = std::getenv("IAPOSTE_STACK_ENV");
    std::string path = p ? p : IAPOSTE_DEFAULT_STACK_ENV;
    std::ifstream in(path);
    if (!in)
      throw std::runtime_error("no stack environment at " + path +
                               ": run scripts/stack up (or set IAPOSTE_STACK_ENV)");
    std::map<std::string, std::string> out;
    for (std::string line; std::getline(in, line);) {
      auto eq = line.find('=');
      if (eq == std::string::npos || line[0] == '#') continue;
      std::string v = line.substr(eq + 1);
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) v = v.substr(1, v.size() - 2);
      out[line.substr(0, eq)] = v;
    }
    return out;
  }();
  return values;
}

const std::string& stack_value(const std::string& key) {
  static std::map<std::string, std::string> values = stack();
  auto it = values.find(key);
  if (it == values.end()) throw std::runtime_error("stack environment lacks " + key);
  return it->second;
}

std::string unique(const std::string& prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  std::ostringstream os;
  os << prefix << "-" << std::hex << (rng() & 0xffffffffffULL);
  return os.str();
}

scenario::scenario(const std::string& n) : name(unique(n)) {
  requests = name + ".requests";
  status = name + ".status";
  dlq = name + ".dlq";
  group = name + ".group";
  env = {{"KAFKA_BROKERS", stack_value("KAFKA_BROKERS")},
         {"DATABASE_URL", stack_value("DATABASE_URL")},
         {"SMTP_SERVER", stack_value("SMTP_CAPTURE_HOST")},
         {"SMTP_PORT", stack_value("SMTP_CAPTURE_PORT")},
         {"IAPOSTE_KAFKA_REQUESTS_TOPIC", requests},
         {"IAPOSTE_KAFKA_STATUS_TOPIC", status},
         {"IAPOSTE_KAFKA_DLQ_TOPIC", dlq},
         {"IAPOSTE_KAFKA_GROUP_ID", group},
         // Retry topics belong to one deployment, like its requests topic.
         {"IAPOSTE_RETRY_TIERS", name + ".retry.1m:60000"},
         {"IAPOSTE_ADMIN_PORT", "0"}, // an ephemeral port, logged in daemon.ready
         {"IAPOSTE_KAFKA_TOPIC_PARTITIONS", "2"},
         {"IAPOSTE_KAFKA_SESSION_TIMEOUT_MS", "6000"},
         {"IAPOSTE_RETRY_INITIAL_MS", "100"},
         {"IAPOSTE_RETRY_MAX_DELAY_MS", "500"},
         {"IAPOSTE_RETRY_MAX_ATTEMPTS", "4"},
         {"IAPOSTE_SMTP_COMMAND_TIMEOUT_MS", "5000"},
         {"IAPOSTE_DELIVERY_DRAIN_TIMEOUT_MS", "10000"},
         {"LOG_LEVEL", "info"}};
}

namespace {

std::vector<std::string> merged_env(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> all;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) all[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra)
    all[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : all)
    out.push_back(k + "=" + v);
  return out;
}

int spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
          const std::string& output_path) {
  std::vector<std::string> envs = merged_env(env);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : envs)
    cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int wait_pid(int pid, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    if (std::chrono::steady_clock::now() > until) return -1000;
    std::this_thread::sleep_for(20ms);
  }
}

} // namespace

daemon_process::daemon_process(const std::map<std::string, std::string>& env,
                               const std::vector<std::string>& args) {
  log_path_ = (fs::temp_directory_path() / (unique("iaposted") + ".log")).string();
  std::vector<std::string> argv{IAPOSTED_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = spawn(argv, env, log_path_);
}

daemon_process::~daemon_process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGTERM);
    if (wait_pid(pid_, 15s) == -1000) {
      ::kill(pid_, SIGKILL);
      wait_pid(pid_, 5s);
    }
  }
  // Under the sanitizer build, a report from the daemon fails the test that ran it.
  std::string text = log();
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"})
    if (text.find(marker) != std::string::npos)
      FAIL_CHECK("iaposted reported a sanitizer error; log: " << log_path_);
}

bool daemon_process::wait_log(const std::string& needle, std::chrono::milliseconds timeout) const {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (log().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

void daemon_process::signal(int sig) const {
  ::kill(pid_, sig);
}

int daemon_process::wait_exit(std::chrono::milliseconds timeout) {
  int rc = wait_pid(pid_, timeout);
  if (rc != -1000) reaped_ = true;
  return rc;
}

std::string daemon_process::log() const {
  return slurp(log_path_);
}

int run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
        std::string* output) {
  std::string path = (fs::temp_directory_path() / (unique("iaposte-run") + ".out")).string();
  int pid = spawn(argv, env, path);
  int rc = wait_pid(pid, 120s);
  if (output) *output = slurp(path);
  fs::remove(path);
  return rc;
}

std::string psql_until(const std::string& sql, const std::function<bool(const std::string&)>& done,
                       std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  std::string out;
  for (;;) {
    REQUIRE_MESSAGE(run({"/usr/bin/psql", stack_value("DATABASE_URL"), "-Atqc", sql}, {}, &out) ==
                        0,
                    sql << ": " << out);
    if (done(out) || std::chrono::steady_clock::now() >= until) return out;
    std::this_thread::sleep_for(100ms);
  }
}

void produce_raw(const std::string& topic, const std::string& key, const std::string& payload) {
  kafka::producer p({stack_value("KAFKA_BROKERS"), 1ms, 30s, {}});
  std::string error = "not acknowledged";
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  p.produce(topic, key, payload, [&](std::string err) {
    std::lock_guard lock(mu);
    error = std::move(err);
    done = true;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait_for(lock, 30s, [&] { return done; });
  if (!error.empty()) throw std::runtime_error("produce to " + topic + ": " + error);
}

void produce(const std::string& topic, const std::vector<json>& requests) {
  kafka::producer p({stack_value("KAFKA_BROKERS"), 5ms, 30s, {}});
  std::mutex mu;
  std::condition_variable cv;
  std::size_t pending = requests.size();
  std::string failure;
  for (const auto& r : requests) {
    p.produce(topic, r.value("request_id", ""), r.dump(), [&](std::string err) {
      std::lock_guard lock(mu);
      if (!err.empty()) failure = err;
      if (--pending == 0) cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait_for(lock, 60s, [&] { return pending == 0; });
  if (pending || !failure.empty()) throw std::runtime_error("produce to " + topic + ": " + failure);
}

topic_reader::topic_reader(const std::string& topic)
    : consumer_(
          {stack_value("KAFKA_BROKERS"),
           unique("reader"),
           {topic},
           false,
           "earliest",
           100000,
           1000ms,
           {{"enable.auto.commit", "false"}, {"topic.metadata.refresh.interval.ms", "1000"}}}) {}

const std::vector<kafka::message>&
topic_reader::until(const std::function<bool(const std::vector<kafka::message>&)>& done,
                    std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!done(seen_) && std::chrono::steady_clock::now() < until) {
    // Everything already fetched before `done` looks again: it often re-reads all it has
    // seen, and one message at a time made a wait quadratic (minutes under ASan).
    kafka::message m;
    if (!consumer_.poll_one(m, 100ms)) continue;
    seen_.push_back(std::move(m));
    for (int i = 0; i < 1000 && consumer_.poll_one(m, 0ms); ++i)
      seen_.push_back(std::move(m));
  }
  return seen_;
}

std::vector<json> topic_reader::events() const {
  std::vector<json> out;
  for (const auto& m : seen_)
    out.push_back(json::parse(m.payload, nullptr, false));
  return out;
}

std::set<std::string> terminal_ids(const std::vector<kafka::message>& seen) {
  std::set<std::string> out;
  for (const auto& m : seen) {
    auto e = json::parse(m.payload, nullptr, false);
    auto s = e.is_object() ? e.value("status", "") : "";
    if (!s.empty() && s != "accepted" && s != "deferred") out.insert(e.value("request_id", ""));
  }
  return out;
}

std::size_t count_status(const std::vector<kafka::message>& seen, const std::string& status) {
  std::size_t n = 0;
  for (const auto& m : seen) {
    auto e = json::parse(m.payload, nullptr, false);
    if (e.is_object() && e.value("status", "") == status) ++n;
  }
  return n;
}

std::vector<std::string> statuses(const std::vector<json>& events) {
  std::vector<std::string> out;
  for (const auto& e : events)
    out.push_back(e.is_object() ? e.value("status", "") : "");
  return out;
}

std::map<std::string, std::vector<std::string>> statuses_by_request(const std::vector<json>& ev) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& e : ev)
    if (e.is_object()) out[e.value("request_id", "")].push_back(e.value("status", ""));
  return out;
}

namespace {

std::string request_id_of(const std::string& message) {
  static const std::string header = "\r\nX-Iaposte-Request-Id: ";
  auto p = message.find(header);
  auto end_of_headers = message.find("\r\n\r\n");
  if (p == std::string::npos || p > end_of_headers) return {};
  p += header.size();
  return message.substr(p, message.find("\r\n", p) - p);
}

template <class F> void each_capture(F f) {
  fs::path root = stack_value("SMTP_CAPTURE_MAILDIR");
  for (const char* sub : {"new", "cur"}) {
    if (!fs::exists(root / sub)) continue;
    for (const auto& entry : fs::directory_iterator(root / sub))
      f(slurp(entry.path().string()));
  }
}

} // namespace

std::vector<std::string> captured(const std::string& request_id) {
  std::vector<std::string> out;
  each_capture([&](std::string m) {
    if (request_id_of(m) == request_id) out.push_back(std::move(m));
  });
  return out;
}

std::map<std::string, int> capture_index() {
  std::map<std::string, int> out;
  each_capture([&](const std::string& m) { ++out[request_id_of(m)]; });
  return out;
}

bool sent_unconfirmed(const std::vector<json>& events, const std::string& request_id) {
  for (const auto& e : events)
    if (e.value("request_id", "") == request_id && e.value("status", "") == "sent" &&
        e.value("reason", "").rfind("unconfirmed", 0) == 0)
      return true;
  return false;
}

std::map<int, partition_offsets> group_offsets(const std::string& group, const std::string& topic) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", stack_value("KAFKA_BROKERS"), err);
  conf->set("group.id", group, err);
  conf->set("enable.auto.commit", "false", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) throw std::runtime_error("group_offsets: " + err);
  RdKafka::Metadata* md = nullptr;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(c.get(), topic, nullptr, err));
  if (c->metadata(false, t.get(), &md, 10000) != RdKafka::ERR_NO_ERROR || !md)
    throw std::runtime_error("group_offsets: no metadata for " + topic);
  std::vector<RdKafka::TopicPartition*> parts;
  for (const auto* tm : *md->topics())
    for (const auto* pm : *tm->partitions())
      parts.push_back(RdKafka::TopicPartition::create(topic, pm->id()));
  delete md;
  std::map<int, partition_offsets> out;
  if (c->committed(parts, 10000) != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("group_offsets: committed() failed for " + group);
  for (auto* tp : parts) {
    std::int64_t low = 0, high = 0;
    c->query_watermark_offsets(topic, tp->partition(), &low, &high, 10000);
    out[tp->partition()] = {tp->offset() >= 0 ? tp->offset() : -1, high};
  }
  RdKafka::TopicPartition::destroy(parts);
  c->close();
  return out;
}

namespace {
struct delivery_errors : RdKafka::DeliveryReportCb {
  std::size_t failed = 0;
  std::string last;
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() == RdKafka::ERR_NO_ERROR) return;
    ++failed;
    last = m.errstr();
  }
};
} // namespace

void produce_records(const std::string& topic, const std::vector<raw_record>& records) {
  std::string err;
  delivery_errors reports;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", stack_value("KAFKA_BROKERS"), err);
  conf->set("dr_cb", &reports, err);
  conf->set("linger.ms", "5", err);
  conf->set("message.max.bytes", "10000000", err);
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  if (!p) throw std::runtime_error("produce_records: " + err);
  for (const auto& r : records) {
    for (;;) {
      auto rc = p->produce(topic, r.partition < 0 ? RdKafka::Topic::PARTITION_UA : r.partition,
                           RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(r.payload.data()),
                           r.payload.size(), r.key.data(), r.key.size(), 0, nullptr);
      if (rc == RdKafka::ERR_NO_ERROR) break;
      if (rc != RdKafka::ERR__QUEUE_FULL)
        throw std::runtime_error("produce_records: " + RdKafka::err2str(rc));
      p->poll(100);
    }
    p->poll(0);
  }
  if (p->flush(60000) != RdKafka::ERR_NO_ERROR || p->outq_len() != 0 || reports.failed)
    throw std::runtime_error("produce_records: " + std::to_string(reports.failed) +
                             " record(s) not acknowledged: " + reports.last);
}

double metric(const std::string& text, const std::string& sample) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line))
    if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
  return -1;
}

int admin_port(const daemon_process& d) {
  std::istringstream lines(d.log());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("\"daemon.ready\"") == std::string::npos) continue;
    auto j = json::parse(line.substr(line.find('{')), nullptr, false);
    if (j.is_object() && j.contains("admin_port")) return j["admin_port"].get<int>();
  }
  return 0;
}

namespace {
http_reply http_exchange(int port, const std::string& req);
} // namespace

http_reply http_get(int port, const std::string& path) {
  return http_exchange(port,
                       "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

http_reply http_post(int port, const std::string& path, const std::string& content_type,
                     const std::string& body) {
  return http_exchange(port, "POST " + path +
                                 " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
                                 "close\r\nContent-Type: " +
                                 content_type + "\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n" + body);
}

namespace {
http_reply http_exchange(int port, const std::string& req) {
  http_reply out;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return out;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return out;
  }
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return out;
  }
  std::string raw;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || raw.size() < 12) return out;
  out.status = std::stoi(raw.substr(9, 3));
  auto body = raw.find("\r\n\r\n");
  if (body != std::string::npos) out.body = raw.substr(body + 4);
  return out;
}
} // namespace

} // namespace iaposte::testing
