// Applying the compiled-in SQL migrations, serialised across instances by an advisory lock.
#pragma once

#include <string>
#include <vector>

namespace iaposte::store::detail {

// Connects to `url`, waits for the migration lock, applies every pending migration in a
// transaction of its own and records it in schema_migrations. Returns the names applied
// (empty when the schema was current). Throws std::runtime_error, password-free.
std::vector<std::string> apply_migrations(const std::string& url);

} // namespace iaposte::store::detail
