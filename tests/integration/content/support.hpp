// Test support for stored content: a migrated throw-away database, the iaposte CLI run with
// its output captured, files to hand it, and content_lookup calls waited for.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "pg.hpp"
#include "store/content.hpp"
#include "store/content_lookup.hpp"

namespace iaposte::testing {

// A test_database with every migration applied.
class content_database : public test_database {
public:
  content_database();
};

struct cli_result {
  int rc = -1;
  std::string out, err;
};

// Runs build/daemon/iaposte with `args`, DATABASE_URL set to `url` (unless `env` says
// otherwise), stdin from /dev/null; waits at most 120 s.
cli_result run_cli(const std::vector<std::string>& args, const std::string& url,
                   const std::map<std::string, std::string>& env = {});

// A file under the system's temp directory holding `content`; removed with the object.
class temp_file {
public:
  explicit temp_file(const std::string& content, const std::string& suffix = ".txt");
  ~temp_file();
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

std::string read_all(const std::string& path);
std::string test_data(const std::string& relative); // tests/data/<relative>

// scripts/stack ACTION postgres (stop, start, restart); REQUIREs success.
void stack_postgres(const std::string& action);

// lookup() waited for (throws after `timeout`).
store::content_answer lookup_now(store::content_lookup& l, store::content_query q,
                                 std::chrono::milliseconds timeout = 10s);

} // namespace iaposte::testing
