// The SQL migrations compiled into the library (generated from lib/store/migrations/*.sql).
#pragma once

#include <string>
#include <vector>

namespace iaposte::store::detail {

struct migration {
  std::string name; // "0001_messages": version "0001", then a description
  std::string sql;
};

// Ascending by name, as generated at configure time.
const std::vector<migration>& compiled_migrations();

} // namespace iaposte::store::detail
