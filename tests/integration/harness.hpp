// Integration test harness: the stack's addresses, an iaposted process, status events
// read back from Kafka, and the capture maildir — all real components.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kafka/kafka.hpp"

namespace iaposte::testing {

using nlohmann::json;
using namespace std::chrono_literals;

// KEY=VALUE pairs from the stack's environment file; throws with a hint when missing.
std::map<std::string, std::string> stack();
const std::string& stack_value(const std::string& key);

// A fresh name for topics, groups, tenants: prefix + random suffix.
std::string unique(const std::string& prefix);

// Topic names and daemon environment for one test, isolated from the others.
struct scenario {
  std::string name;
  std::string requests, status, dlq, group;
  std::map<std::string, std::string> env; // for iaposted
  explicit scenario(const std::string& name);
};

// iaposted started with the test's environment; stderr (JSON log lines) to a file.
class daemon_process {
public:
  daemon_process(const std::map<std::string, std::string>& env,
                 const std::vector<std::string>& args = {});
  ~daemon_process(); // SIGTERM, then SIGKILL after 15 s

  bool wait_log(const std::string& needle, std::chrono::milliseconds timeout) const;
  void signal(int sig) const;
  // Exit code, or -signal when killed; -1000 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);
  std::string log() const;
  int pid() const { return pid_; }

private:
  int pid_ = -1;
  bool reaped_ = false;
  std::string log_path_;
};

// Runs a command to completion; returns its exit code and captures stdout+stderr.
int run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
        std::string* output = nullptr);

// Runs `sql` with psql on the stack's database (unaligned, tuples only) until `done(output)`
// or the timeout; returns the last output. A status event comes before its record (settle()
// publishes, then records), so a row read right after a terminal event may still be behind.
std::string psql_until(const std::string& sql, const std::function<bool(const std::string&)>& done,
                       std::chrono::milliseconds timeout = 10s);

void produce(const std::string& topic, const std::vector<json>& requests);
void produce_raw(const std::string& topic, const std::string& key, const std::string& payload);

// Reads a topic from the beginning with a group of its own.
class topic_reader {
public:
  explicit topic_reader(const std::string& topic);
  // Polls until `done(all messages so far)` or the timeout; returns what it read.
  const std::vector<kafka::message>&
  until(const std::function<bool(const std::vector<kafka::message>&)>& done,
        std::chrono::milliseconds timeout);
  std::vector<json> events() const; // payloads parsed as JSON

private:
  kafka::consumer consumer_;
  std::vector<kafka::message> seen_;
};

// The request_ids that reached a terminal status (anything but accepted and deferred).
std::set<std::string> terminal_ids(const std::vector<kafka::message>& seen);

// How many of the messages read are status events with this status.
std::size_t count_status(const std::vector<kafka::message>& seen, const std::string& status);

// The `status` field of each event, in order.
std::vector<std::string> statuses(const std::vector<json>& events);

// Statuses per request_id, in order, from a list of events.
std::map<std::string, std::vector<std::string>> statuses_by_request(const std::vector<json>& ev);

// Captured messages (exact bytes) whose X-Iaposte-Request-Id is `request_id`.
std::vector<std::string> captured(const std::string& request_id);
// request_id → number of captured copies, for every message in the capture maildir.
std::map<std::string, int> capture_index();

// Whether a request's `sent` event is an unconfirmed one (at_most_once after a crash between
// the attempt's record and the server's reply), from a list of events.
bool sent_unconfirmed(const std::vector<json>& events, const std::string& request_id);

// Per partition of `topic`: the group's committed offset (-1: none) and the end offset.
struct partition_offsets {
  std::int64_t committed = -1, end = 0;
};
std::map<int, partition_offsets> group_offsets(const std::string& group, const std::string& topic);

// Produces raw records, each to the given partition (-1: by key), and waits for every ack.
struct raw_record {
  std::string key, payload;
  int partition = -1;
};
void produce_records(const std::string& topic, const std::vector<raw_record>& records);

// A Prometheus sample's value from /metrics text ("name{labels}" as written), or -1.
double metric(const std::string& metrics_text, const std::string& sample);

// The admin HTTP port iaposted logged in daemon.ready (0 when not found).
int admin_port(const daemon_process& d);

struct http_reply {
  int status = 0; // 0: no answer
  std::string body;
};
// GET http://127.0.0.1:port/path (HTTP/1.1, Connection: close), 5 s at most.
http_reply http_get(int port, const std::string& path);
// POST with a body of the given content type, the same way.
http_reply http_post(int port, const std::string& path, const std::string& content_type,
                     const std::string& body);

} // namespace iaposte::testing
