// Request dispatch: which route, whether the token may use it, and the built-in documents.
#include "admin/router.hpp"

#include <algorithm>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "log/log.hpp"
#include "metrics/metrics.hpp"

namespace iaposte::admin {

namespace detail {
std::string_view openapi_base(); // generated from lib/admin/openapi.json
}

namespace {

bool valid_method(std::string_view m) {
  return !m.empty() && std::all_of(m.begin(), m.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool valid_prefix(std::string_view p) {
  return !p.empty() && p.front() == '/' && p.find_first_of("?# ") == std::string_view::npos;
}

// `path` is the prefix itself or lies below it (at a segment boundary).
bool covers(std::string_view prefix, bool exact, std::string_view path) {
  if (path == prefix) return true;
  if (exact || !path.starts_with(prefix)) return false;
  return prefix.back() == '/' || path[prefix.size()] == '/';
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

} // namespace

response error_response(unsigned status, std::string_view message) {
  return {status, "application/json", nlohmann::json{{"error", message}}.dump(), {}};
}

router::router(const server_config& cfg, const metrics::registry* metrics) : tokens_(cfg.tokens) {
  add_route({"GET", "/healthz", role::none,
             [](const request&) {
               return response{200, "text/plain", "ok\n", {}};
             },
             "Liveness"},
            true);
  add_route(
      {"GET", "/readyz", role::none, [this](const request&) { return readiness(); }, "Readiness"},
      true);
  add_route({"GET", "/openapi.json", role::read,
             [this](const request&) {
               return response{200, "application/json", openapi(), {}};
             },
             "This document"},
            true);
  if (metrics)
    add_route({"GET", "/metrics", cfg.metrics_require_token ? role::read : role::none,
               [metrics](const request&) {
                 return response{200,
                                 std::string(metrics::prometheus_content_type),
                                 metrics->render_prometheus(),
                                 {}};
               },
               "Prometheus metrics"},
              true);
}

void router::add_check(std::string name, std::function<check_result()> fn) {
  if (!fn) throw std::invalid_argument("admin check '" + name + "': empty callback");
  std::lock_guard lock(mutex_);
  checks_.push_back({std::move(name), std::move(fn)});
}

void router::add_route(route r, bool exact) {
  if (!r.fn) throw std::invalid_argument("admin route " + r.path_prefix + ": empty handler");
  if (!valid_method(r.method))
    throw std::invalid_argument("admin route " + r.path_prefix + ": bad method " + r.method);
  if (!valid_prefix(r.path_prefix))
    throw std::invalid_argument("admin route '" + r.path_prefix + "': must start with '/'");
  std::lock_guard lock(mutex_);
  for (const auto& e : routes_)
    if (e.r.method == r.method && e.r.path_prefix == r.path_prefix)
      throw std::invalid_argument("admin route " + r.method + " " + r.path_prefix +
                                  " already registered");
  routes_.push_back({std::move(r), exact});
}

response router::dispatch(const incoming& in) const {
  if (in.target.empty() || in.target.front() != '/')
    return error_response(400, "the request target must be an absolute path");
  const auto q = in.target.find('?');
  const std::string_view path = in.target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? "" : in.target.substr(q + 1);

  // The matching route; copied out so that the handler runs without the lock.
  route chosen;
  bool found = false;
  std::string allow;
  {
    std::lock_guard lock(mutex_);
    std::size_t best = 0;
    for (const auto& e : routes_) {
      if (!covers(e.r.path_prefix, e.exact, path)) continue;
      if (e.r.method != in.method) {
        if (allow.find(e.r.method) == std::string::npos)
          allow += (allow.empty() ? "" : ", ") + e.r.method;
        continue;
      }
      if (!found || e.r.path_prefix.size() > best) {
        chosen = e.r;
        best = e.r.path_prefix.size();
        found = true;
      }
    }
  }
  if (!found) {
    if (allow.empty()) return error_response(404, "no such route");
    auto r = error_response(405, "method not allowed");
    r.headers.emplace_back("Allow", allow);
    return r;
  }

  request req{in.method, path, query, in.content_type, in.body, {}, role::none};
  std::optional<identity> who;
  if (chosen.required != role::none) {
    auto presented = token_set::bearer(in.authorization);
    if (presented) who = tokens_.match(*presented);
    if (!who) {
      log::debug("admin.unauthorized",
                 {{"path", path}, {"reason", presented ? "unknown token" : "no bearer token"}});
      auto r = error_response(401, "a valid bearer token is required");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"iaposte\"");
      return r;
    }
    if (who->role < chosen.required) {
      log::info("admin.forbidden", {{"path", path},
                                    {"token", who->name},
                                    {"role", to_string(who->role)},
                                    {"required", to_string(chosen.required)}});
      return error_response(403, "this route requires the role " +
                                     std::string(to_string(chosen.required)));
    }
    req.token_name = who->name;
    req.role = who->role;
  }

  try {
    return chosen.fn(req);
  } catch (const std::exception& e) {
    log::error("admin.handler_failed", {{"path", path}, {"error", e.what()}});
  } catch (...) {
    log::error("admin.handler_failed", {{"path", path}, {"error", "unknown exception"}});
  }
  return error_response(500, "internal error");
}

response router::readiness() const {
  std::vector<check> checks;
  {
    std::lock_guard lock(mutex_);
    checks = checks_;
  }
  bool ready = true;
  auto list = nlohmann::json::array();
  for (const auto& c : checks) {
    check_result r;
    try {
      r = c.fn();
    } catch (const std::exception& e) {
      r = {false, std::string("check failed: ") + e.what()};
    } catch (...) {
      r = {false, "check failed"};
    }
    ready = ready && r.ok;
    list.push_back({{"name", c.name}, {"ok", r.ok}, {"detail", r.detail}});
  }
  nlohmann::json body{{"ready", ready}, {"checks", std::move(list)}};
  return {ready ? 200u : 503u, "application/json", body.dump(), {}};
}

std::string router::openapi() const {
  auto doc = nlohmann::json::parse(detail::openapi_base());
  std::lock_guard lock(mutex_);
  for (const auto& e : routes_) {
    auto& op = doc["paths"][e.r.path_prefix][lower(e.r.method)];
    if (!op.is_null()) continue; // described in the file already
    op["summary"] = e.r.summary.empty() ? e.r.method + " " + e.r.path_prefix : e.r.summary;
    op["x-required-role"] = to_string(e.r.required);
    op["x-path-prefix"] = !e.exact;
    op["security"] =
        e.r.required == role::none
            ? nlohmann::json::array()
            : nlohmann::json::array({nlohmann::json{{"bearer", nlohmann::json::array()}}});
    op["responses"] = {{"200", {{"description", "Success."}}},
                       {"401", {{"$ref", "#/components/responses/unauthorized"}}},
                       {"403", {{"$ref", "#/components/responses/forbidden"}}}};
  }
  return doc.dump(2);
}

} // namespace iaposte::admin
