// Test support for lib/store: a throw-away database per test case, waits with deadlines.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include <pqxx/pqxx>

#include "store/store.hpp"

namespace iaposte::testing {

using namespace std::chrono_literals;

// The server's URL: $DATABASE_URL, else DATABASE_URL from the stack's environment file
// ($IAPOSTE_STACK_ENV or .state/stack/stack.env). Throws with a hint when neither is set.
std::string database_url();

// CREATE DATABASE t_<random> on construction, DROP ... WITH (FORCE) on destruction.
class test_database {
public:
  test_database();
  ~test_database();
  test_database(const test_database&) = delete;
  test_database& operator=(const test_database&) = delete;

  const std::string& url() const { return url_; } // connection string for the new database
  const std::string& name() const { return name_; }
  pqxx::result query(const std::string& sql) const; // on a short-lived connection
  long long count(const std::string& sql) const;    // first column of the first row

private:
  std::string admin_url_, name_, url_;
};

// `url` with its dbname replaced (any connection string form libpq accepts).
std::string with_dbname(const std::string& url, const std::string& dbname);

// A port on 127.0.0.1 where nothing listens (bound, read, closed).
int free_port();

// Counts completions from store threads; the test waits with a deadline.
class completions {
public:
  void add() {
    {
      std::lock_guard lk(mu_);
      ++n_;
    }
    cv_.notify_all();
  }
  int count() const {
    std::lock_guard lk(mu_);
    return n_;
  }
  bool wait_for(int n, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return n_ >= n; });
  }

private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

// Polls `pred` until it holds or `timeout` passes (for state exposed only as getters).
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// A store on the test database, quick to retry, owned by "test".
store::store_config store_config_for(const test_database& db);

// claim() and record() waited for (throws after 10 s: a hung store is a failure).
store::claim_result claim_now(store::store& s, const std::string& tenant,
                              const std::string& request_id);
// The same claim carrying `content` (the composed message).
store::claim_result claim_now(store::store& s, const std::string& tenant,
                              const std::string& request_id, std::string content);
// Any claim request.
store::claim_result claim_now(store::store& s, store::claim_request req);
void record_now(store::store& s, store::event_record ev);
void release_now(store::store& s, const std::string& tenant, const std::string& request_id);

// An event for (tenant, request_id) with `status` at `attempt`.
store::event_record event(const std::string& tenant, const std::string& request_id,
                          core::status status, int attempt = 0);

} // namespace iaposte::testing
