// Applying the compiled-in SQL migrations, serialised across instances by an advisory lock.
#include "store/migrate.hpp"

#include <set>
#include <stdexcept>

#include <pqxx/pqxx>

#include "store/conninfo.hpp"
#include "store/log_event.hpp"
#include "store/migrations_data.hpp"
#include "store/store.hpp"

namespace iaposte::store {

std::vector<std::string> migration_names() {
  std::vector<std::string> names;
  for (const auto& m : detail::compiled_migrations())
    names.push_back(m.name);
  return names;
}

namespace detail {
namespace {

// Any constant shared by every iaposte instance: two daemons starting together take
// turns instead of both creating the same tables.
constexpr long long migration_lock_key = 0x1a90'57e0'0001LL;

const char* const create_bookkeeping = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    text PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";

} // namespace

std::vector<std::string> apply_migrations(const std::string& url) {
  auto conn = open_connection(url);
  std::vector<std::string> applied;
  std::string current; // the migration being applied, for the error message
  try {
    {
      pqxx::nontransaction n(*conn);
      // A session lock: held across the per-migration transactions below, released by
      // the unlock or, if we die, by the end of the session.
      n.exec_params("SELECT pg_advisory_lock($1)", migration_lock_key);
      n.exec(create_bookkeeping);
    }
    std::set<std::string> done;
    {
      pqxx::nontransaction n(*conn);
      for (const auto& row : n.exec("SELECT version FROM schema_migrations"))
        done.insert(row[0].c_str());
    }
    for (const auto& m : compiled_migrations()) {
      const std::string version = m.name.substr(0, 4);
      if (done.count(version)) continue;
      current = m.name;
      pqxx::work w(*conn);
      w.exec(m.sql);
      w.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version,
                    m.name.substr(5));
      w.commit();
      applied.push_back(m.name);
      log_event(spdlog::level::info, "store.migration_applied", {{"migration", m.name}});
    }
    pqxx::nontransaction n(*conn);
    n.exec_params("SELECT pg_advisory_unlock($1)", migration_lock_key);
  } catch (const std::exception& e) {
    const std::string what = describe_error(e, url);
    if (current.empty())
      throw std::runtime_error("cannot migrate PostgreSQL at " + describe_server(url) + ": " +
                               what);
    throw std::runtime_error("migration " + current + " failed on PostgreSQL at " +
                             describe_server(url) + ": " + what);
  }
  return applied;
}

} // namespace detail
} // namespace iaposte::store
