// Connection strings and connections: defaults, redaction, readable errors, failure kinds.
#pragma once

#include <exception>
#include <memory>
#include <string>

#include <pqxx/connection>

namespace iaposte::store::detail {

// The configured URL (URI or key=value) with what the store needs unless already set:
// connect_timeout (a dead server must not hang a worker) and application_name.
std::string with_defaults(const std::string& url);

// "host:port" (or "socket directory:port") for messages; never the user or password.
std::string describe_server(const std::string& url);

// `text` with every occurrence of the URL's password (and of the URL itself) masked.
std::string redact(std::string text, const std::string& url);

// Opens a connection; on failure throws std::runtime_error
// "cannot connect to PostgreSQL at HOST:PORT: <libpq reason>", password-free.
std::unique_ptr<pqxx::connection> open_connection(const std::string& url);

enum class failure_kind {
  connection, // lost or refused connection, unknown commit outcome: reconnect, retry all
  transient,  // deadlock, serialization failure, lack of resources: retry all as is
  poison,     // anything else (a bug, a constraint violation): isolate the operation
};
failure_kind classify(const std::exception& e);

// The exception's message, on one line and redacted, for logs.
std::string describe_error(const std::exception& e, const std::string& url);

} // namespace iaposte::store::detail
