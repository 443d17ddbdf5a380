// The unsubscribe routes: the token from the path, the confirmation page, the one-click POST
// and its bounded wait for the suppression write.
#include "unsubscribe/routes.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <variant>

#include "admin/server.hpp"
#include "log/log.hpp"
#include "render/render.hpp"
#include "unsubscribe/detail.hpp"
#include "unsubscribe/form.hpp"

namespace iaposte::unsubscribe {

namespace {

// One page, French first then English; inline style only (no external resource, no script).
std::string page(std::string_view title, std::string_view body_html) {
  std::string out = R"(<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>)";
  out += title;
  out += R"(</title>
<style>body{font-family:system-ui,sans-serif;max-width:34em;margin:3em auto;padding:0 1em;line-height:1.5;color:#222}.en{color:#555}button{font-size:1em;padding:.6em 1.4em;cursor:pointer}</style>
</head>
<body>
)";
  out += body_html;
  out += "</body>\n</html>\n";
  return out;
}

// Headers of every answer: nothing to load from elsewhere, no referrer carrying the token, not
// indexed, not framed (a framed button could be clicked by deception).
admin::response html(unsigned status, std::string body) {
  admin::response r{status, "text/html; charset=utf-8", std::move(body), {}};
  r.headers = {{"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                                           "form-action 'self'; frame-ancestors 'none'; "
                                           "base-uri 'none'"},
               {"Referrer-Policy", "no-referrer"},
               {"X-Content-Type-Options", "nosniff"},
               {"X-Robots-Tag", "noindex, nofollow"}};
  return r;
}

admin::response invalid_link(unsigned status) {
  return html(status,
              page("Lien non valide — Invalid link",
                   "<h1>Lien non valide</h1>\n"
                   "<p>Ce lien de désinscription n'est pas valide ou a été modifié. "
                   "Vous pouvez répondre au message pour demander votre désinscription.</p>\n"
                   "<p class=\"en\" lang=\"en\">This unsubscribe link is not valid or has "
                   "been altered. You may reply to the message to ask to be "
                   "unsubscribed.</p>\n"));
}

admin::response confirmation(const subscription& sub) {
  const std::string who = render::escape_html(mask_address(sub.address));
  // No action attribute: the form posts to the page's own URL, whatever path the reverse proxy
  // shows, with the body a mailbox provider sends (RFC 8058 §3.2).
  return html(200,
              page("Désinscription — Unsubscribe",
                   "<h1>Se désinscrire</h1>\n"
                   "<p>Ne plus recevoir ces messages à l'adresse <strong>" +
                       who +
                       "</strong>&nbsp;?</p>\n"
                       "<p class=\"en\" lang=\"en\">Stop receiving these messages at <strong>" +
                       who +
                       "</strong>?</p>\n"
                       "<form method=\"post\">\n"
                       "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\n"
                       "<button type=\"submit\">Me désinscrire — Unsubscribe</button>\n"
                       "</form>\n"));
}

admin::response done() {
  return html(200, page("Désinscription enregistrée — Unsubscribed",
                        "<h1>C'est fait</h1>\n"
                        "<p>Votre désinscription est enregistrée&nbsp;: vous ne recevrez plus "
                        "ces messages.</p>\n"
                        "<p class=\"en\" lang=\"en\">Done: you will no longer receive these "
                        "messages.</p>\n"));
}

admin::response bad_request(unsigned status, std::string_view why) {
  auto r = html(status, page("Requête incomplète — Incomplete request",
                             "<h1>Requête incomplète</h1>\n"
                             "<p>La demande de désinscription n'a pas le format attendu.</p>\n"
                             "<p class=\"en\" lang=\"en\">The unsubscribe request is not in the "
                             "expected form: " +
                                 render::escape_html(why) + "</p>\n"));
  if (status == 415)
    r.headers.emplace_back("Accept-Post", "application/x-www-form-urlencoded, multipart/form-data");
  return r;
}

admin::response unavailable(std::chrono::seconds retry_after) {
  auto r = html(503, page("Réessayez plus tard — Try again later",
                          "<h1>Réessayez dans un moment</h1>\n"
                          "<p>Votre demande n'a pas pu être enregistrée pour l'instant.</p>\n"
                          "<p class=\"en\" lang=\"en\">Your request could not be recorded just "
                          "now: please try again in a moment.</p>\n"));
  r.headers.emplace_back("Retry-After", std::to_string(retry_after.count()));
  return r;
}

struct state {
  verifier tokens;
  suppress_fn suppress;
  std::string prefix;
  std::chrono::milliseconds timeout;
  std::chrono::seconds retry_after;
};

// The token of "<prefix>/<token>"; "" for the prefix alone or a deeper path.
std::string_view token_of(std::string_view path, std::string_view prefix) {
  if (path.size() <= prefix.size() + 1 || path[prefix.size()] != '/') return {};
  const std::string_view token = path.substr(prefix.size() + 1);
  return token.find('/') == std::string_view::npos ? token : std::string_view{};
}

// The token checked, or the answer to give instead.
std::variant<subscription, admin::response> subscription_of(const state& st,
                                                            const admin::request& req) {
  const std::string_view token = token_of(req.path, st.prefix);
  if (token.empty()) return invalid_link(404);
  auto v = st.tokens.verify(token);
  if (!v) {
    log::info("unsubscribe.invalid_token", {{"method", req.method}, {"error", v.error}});
    return invalid_link(400);
  }
  return std::move(*v.sub);
}

admin::response show(const state& st, const admin::request& req) {
  auto checked = subscription_of(st, req);
  if (auto* r = std::get_if<admin::response>(&checked)) return std::move(*r);
  return confirmation(std::get<subscription>(checked));
}

// Set by the suppress callback, whenever it comes; the handler may have stopped waiting.
struct outcome {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  std::string error;
};

admin::response record(const state& st, const admin::request& req) {
  auto checked = subscription_of(st, req);
  if (auto* r = std::get_if<admin::response>(&checked)) return std::move(*r);
  auto& sub = std::get<subscription>(checked);

  const auto form = check_one_click(req.content_type, req.body);
  if (form.verdict != form_verdict::one_click) {
    log::info("unsubscribe.bad_request", {{"tenant", sub.tenant}, {"error", form.error}});
    return bad_request(form.verdict == form_verdict::unsupported_type ? 415 : 400, form.error);
  }

  store::suppression s;
  s.tenant = sub.tenant;
  s.address = sub.address;
  s.reason = store::suppression_reason::unsubscribe;
  s.list = sub.list;
  s.note = "one-click unsubscribe (RFC 8058)";
  const std::string masked = mask_address(sub.address);

  // Waited for, within a bound: answering 200 before the entry is stored could lose an
  // unsubscribe the sender believes done; waiting without bound would stall the admin thread.
  auto out = std::make_shared<outcome>();
  try {
    st.suppress(std::move(s), [out](std::string error) {
      {
        std::lock_guard lock(out->mutex);
        out->done = true;
        out->error = std::move(error);
      }
      out->cv.notify_all();
    });
  } catch (const std::exception& e) {
    log::error("unsubscribe.store_failed",
               {{"tenant", sub.tenant}, {"list", sub.list}, {"error", e.what()}});
    return unavailable(st.retry_after);
  }
  std::unique_lock lock(out->mutex);
  if (!out->cv.wait_for(lock, st.timeout, [&] { return out->done; })) {
    log::warn("unsubscribe.store_timeout", {{"tenant", sub.tenant},
                                            {"list", sub.list},
                                            {"address", masked},
                                            {"timeout_ms", st.timeout.count()}});
    return unavailable(st.retry_after);
  }
  if (!out->error.empty()) {
    log::error("unsubscribe.store_failed",
               {{"tenant", sub.tenant}, {"list", sub.list}, {"error", out->error}});
    return unavailable(st.retry_after);
  }
  log::info("unsubscribe.recorded",
            {{"tenant", sub.tenant}, {"list", sub.list}, {"address", masked}});
  return done();
}

} // namespace

void add_routes(admin::server& server, const verifier& tokens, suppress_fn suppress,
                const config& cfg) {
  if (!suppress) throw std::invalid_argument("unsubscribe routes: empty suppress function");
  detail::validate_route_keys(cfg);
  auto st = std::make_shared<const state>(
      state{tokens, std::move(suppress), cfg.path_prefix, cfg.store_timeout, cfg.retry_after});
  server.add_route({"GET", cfg.path_prefix, admin::role::none,
                    [st](const admin::request& req) { return show(*st, req); },
                    "Unsubscribe confirmation page (never unsubscribes by itself)"});
  server.add_route({"POST", cfg.path_prefix, admin::role::none,
                    [st](const admin::request& req) { return record(*st, req); },
                    "One-click unsubscribe (RFC 8058): body List-Unsubscribe=One-Click"});
}

} // namespace iaposte::unsubscribe
