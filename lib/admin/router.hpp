// Request dispatch without any transport: route table, token check, role check, built-ins.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "admin/auth.hpp"
#include "admin/server.hpp"

namespace iaposte::admin {

// One parsed request as the transport hands it over.
struct incoming {
  std::string_view method;
  std::string_view target; // origin-form: path[?query]
  std::string_view authorization;
  std::string_view content_type;
  std::string_view body;
};

class router {
public:
  // Registers /healthz, /readyz, /openapi.json and, when `metrics` is given, /metrics.
  router(const server_config& cfg, const metrics::registry* metrics);
  router(const router&) = delete; // the built-in routes point back to it
  router& operator=(const router&) = delete;

  void add_check(std::string name, std::function<check_result()> fn);
  // `exact`: serves `path_prefix` only (the built-ins), not what lies below it.
  void add_route(route r, bool exact = false);

  // Never throws: a handler's exception becomes a 500.
  response dispatch(const incoming& in) const;

  // The /readyz document and whether every check passed.
  response readiness() const;
  // The embedded OpenAPI document, with the routes added at run time.
  std::string openapi() const;

private:
  struct entry {
    route r;
    bool exact = false;
  };
  struct check {
    std::string name;
    std::function<check_result()> fn;
  };

  token_set tokens_;
  mutable std::mutex mutex_;
  std::vector<entry> routes_;
  std::vector<check> checks_;
};

// The body of a 4xx/5xx answer: {"error": "..."}.
response error_response(unsigned status, std::string_view message);

} // namespace iaposte::admin
