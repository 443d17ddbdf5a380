// The unsubscribe routes on the admin server: GET shows a confirmation page, POST (RFC 8058
// one-click) records the suppression. Open routes (role none): the token is the credential.
#pragma once

#include <functional>
#include <string>

#include "store/content.hpp"
#include "unsubscribe/unsubscribe.hpp"

namespace iaposte::admin {
class server;
}

namespace iaposte::unsubscribe {

// Called with done("") once stored, done(reason) when it could not be (on any thread, at any
// later time, or never: the handler waits at most config::store_timeout). The shape of
// store::content_lookup::suppress, so the daemon passes
//   [&lookup](store::suppression s, suppress_done d) { lookup.suppress(std::move(s), std::move(d));
//   }
using suppress_done = std::function<void(std::string error)>;
using suppress_fn = std::function<void(store::suppression, suppress_done)>;

// Registers GET and POST on cfg.path_prefix (and below). The verifier is copied; `suppress`
// must stay callable as long as the server runs. Throws std::invalid_argument for an empty
// `suppress`, a bad prefix (validate(cfg)'s rules) or a clash with another route.
//
// POST <prefix>/<token>, body List-Unsubscribe=One-Click:
//   200 text/html: recorded (again: idempotent)
//   400 invalid or forged token, or a body without the one-click pair; nothing written
//   415 neither application/x-www-form-urlencoded nor multipart/form-data
//   503 + Retry-After: not stored within store_timeout, or the store refused
// GET <prefix>/<token>: 200 with a confirmation page whose form POSTs the pair; 400 for an
// invalid token. Never writes. <prefix> or <prefix>/a/b: 404.
void add_routes(admin::server& server, const verifier& tokens, suppress_fn suppress,
                const config& cfg);

} // namespace iaposte::unsubscribe
