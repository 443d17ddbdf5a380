// Private to lib/store's content code: input checks, row decoding and the statements the
// synchronous API and the batched look-ups share.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <pqxx/pqxx>

#include "store/conninfo.hpp"
#include "store/content.hpp"
#include "store/content_checks.hpp"

namespace iaposte::store::detail {

std::string field_text(const pqxx::field& f);
core::clock::time_point field_time_us(const pqxx::field& f); // a bigint of epoch microseconds

// SQL: a timestamptz column as epoch microseconds (what field_time_us reads).
#define IAPOSTE_SQL_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

// The upsert of suppressions, for a JSON array of {t, a, r, l, s, n} (tenant, address,
// reason, list, source request id, note): duplicates within the array keep the strongest
// reason, then the first given; an existing entry keeps its reason unless the new one stops
// more mail (docs/CONTENT.md). Idempotent: a retry after an unknown commit changes nothing.
// Returns the entries inserted or changed.
extern const char* const upsert_suppressions_sql;

// A suppression row selected with the columns named by `suppression_columns`.
extern const char* const suppression_columns;
suppression suppression_of(const pqxx::row& r);

} // namespace iaposte::store::detail

namespace iaposte::store {

struct content_store::impl {
  std::string url;
  std::unique_ptr<pqxx::connection> conn;

  // Runs `fn` on the connection (opened or reopened first). Input errors and not_found pass
  // through; anything from PostgreSQL becomes a password-free std::runtime_error, and a lost
  // connection is dropped so that the next call opens a new one.
  template <typename Fn> auto run(Fn&& fn) -> decltype(fn(std::declval<pqxx::connection&>())) {
    if (!conn || !conn->is_open()) {
      conn.reset();
      conn = detail::open_connection(url);
    }
    try {
      return fn(*conn);
    } catch (const pqxx::argument_error& e) { // an std::invalid_argument, but ours is a bug
      throw std::runtime_error(std::string("PostgreSQL call refused: ") + e.what());
    } catch (const std::invalid_argument&) {
      throw;
    } catch (const not_found&) {
      throw;
    } catch (const std::exception& e) {
      if (detail::classify(e) == detail::failure_kind::connection) conn.reset();
      throw std::runtime_error("PostgreSQL query failed at " + detail::describe_server(url) + ": " +
                               detail::describe_error(e, url));
    }
  }
};

} // namespace iaposte::store
