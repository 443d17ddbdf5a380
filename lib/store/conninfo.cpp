// Connection strings and connections: defaults, redaction, readable errors, failure kinds.
#include "store/conninfo.hpp"

#include <stdexcept>
#include <string_view>

#include <libpq-fe.h>
#include <pqxx/pqxx>

namespace iaposte::store::detail {
namespace {

// The keywords libpq would use for `url`, or nothing when it cannot be parsed. A
// malformed string is never echoed: it may contain the password.
struct parsed_conninfo {
  bool ok = false;
  std::string host, hostaddr, port, password;
  bool has_connect_timeout = false, has_application_name = false;
};

parsed_conninfo parse(const std::string& url) {
  parsed_conninfo out;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (err) PQfreemem(err);
  if (!opts) return out;
  out.ok = true;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (!o->val) continue;
    const std::string_view key = o->keyword;
    if (key == "host")
      out.host = o->val;
    else if (key == "hostaddr")
      out.hostaddr = o->val;
    else if (key == "port")
      out.port = o->val;
    else if (key == "password")
      out.password = o->val;
    else if (key == "connect_timeout")
      out.has_connect_timeout = true;
    else if (key == "application_name")
      out.has_application_name = true;
  }
  PQconninfoFree(opts);
  return out;
}

bool is_uri(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

void append_param(std::string& url, bool uri, const std::string& key, const std::string& value) {
  if (uri) {
    url += url.find('?') == std::string::npos ? '?' : '&';
    url += key + "=" + value;
  } else {
    url += (url.empty() ? "" : " ") + key + "=" + value;
  }
}

void replace_all(std::string& text, const std::string& what, std::string_view with) {
  if (what.empty()) return;
  for (auto pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + with.size()))
    text.replace(pos, what.size(), with);
}

// libpq messages span lines ("...failed: Connection refused\n\tIs the server running...");
// keep them on one line for logs and exceptions.
std::string one_line(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

bool sqlstate_class(const std::string& state, std::string_view cls) {
  return state.size() == 5 && std::string_view(state).substr(0, 2) == cls;
}

} // namespace

std::string with_defaults(const std::string& url) {
  const parsed_conninfo p = parse(url);
  if (!p.ok) return url; // open_connection reports it without echoing it
  std::string out = url;
  const bool uri = is_uri(url);
  if (!p.has_connect_timeout) append_param(out, uri, "connect_timeout", "5");
  if (!p.has_application_name) append_param(out, uri, "application_name", "iaposte-store");
  return out;
}

std::string describe_server(const std::string& url) {
  const parsed_conninfo p = parse(url);
  if (!p.ok) return "(unparsable connection string)";
  std::string host = !p.host.empty() ? p.host : !p.hostaddr.empty() ? p.hostaddr : "local socket";
  return host + ":" + (p.port.empty() ? "5432" : p.port);
}

std::string redact(std::string text, const std::string& url) {
  replace_all(text, url, "<connection string>");
  const parsed_conninfo p = parse(url);
  if (p.ok && !p.password.empty()) replace_all(text, p.password, "***");
  return text;
}

std::unique_ptr<pqxx::connection> open_connection(const std::string& url) {
  const parsed_conninfo p = parse(url);
  if (!p.ok)
    throw std::runtime_error(
        "invalid PostgreSQL connection string (not shown: it may contain a password)");
  try {
    return std::make_unique<pqxx::connection>(with_defaults(url));
  } catch (const std::exception& e) {
    std::string reason = one_line(e.what());
    // PG 14+ libpq: 'connection to server at "h" (addr), port N failed: <reason>'; the
    // server is named once, in our prefix.
    if (reason.rfind("connection to server", 0) == 0) {
      const auto at = reason.find("failed: ");
      if (at != std::string::npos) reason = reason.substr(at + 8);
    }
    throw std::runtime_error("cannot connect to PostgreSQL at " + describe_server(url) + ": " +
                             redact(reason, url));
  }
}

failure_kind classify(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) ||
      dynamic_cast<const pqxx::statement_completion_unknown*>(&e))
    return failure_kind::connection;
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e)) return failure_kind::transient;
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    // 08: connection exception; 57: operator intervention (admin shutdown, crash
    // recovery); 40: transaction rollback; 53: insufficient resources; 55P03: lock not
    // available. An empty state comes from a dead connection, not from the server.
    if (state.empty() || sqlstate_class(state, "08") || sqlstate_class(state, "57"))
      return failure_kind::connection;
    if (sqlstate_class(state, "40") || sqlstate_class(state, "53") || state == "55P03")
      return failure_kind::transient;
    return failure_kind::poison;
  }
  if (dynamic_cast<const pqxx::failure*>(&e)) return failure_kind::connection;
  return failure_kind::poison;
}

std::string describe_error(const std::exception& e, const std::string& url) {
  return redact(one_line(e.what()), url);
}

} // namespace iaposte::store::detail
