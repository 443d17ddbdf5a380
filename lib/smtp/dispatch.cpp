// Delivery front: shaping permits, then the relay, or per domain the MX hosts in order, each
// through a client (pool) of its own created on demand and dropped when unused.
#include "smtp/dispatch.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "smtp/outcome.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frame allocator
// (awaitable_frame_base's operator new/delete pair) once deliver_domain() is co_spawn()ed.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace iaposte::smtp {

namespace asio = boost::asio;
using asio::awaitable;
using clock = std::chrono::steady_clock;

namespace {

outcome dns_failure(const dns::mx_result& mx) {
  outcome o = mx.status == dns::status::permanent
                  ? classify::local_permanent("DNS: " + mx.error, phase::resolve)
                  : classify::local_transient("DNS: " + mx.error, phase::resolve);
  o.last.enhanced = mx.enhanced; // no SMTP reply: code stays 0
  return o;
}

} // namespace

outcome dispatch_result::overall() const {
  const domain_outcome* transient = nullptr;
  const domain_outcome* permanent = nullptr;
  for (const auto& d : domains) {
    if (d.outcome.kind == outcome_kind::transient && !transient) transient = &d;
    if (d.outcome.kind == outcome_kind::permanent && !permanent) permanent = &d;
  }
  if (transient) return transient->outcome;
  if (permanent) return permanent->outcome;
  if (domains.empty()) return classify::local_permanent("no recipients");
  return domains.front().outcome;
}

verdict judge(const dispatch_result& r) {
  verdict v;
  auto place = [&v](recipient_result rr) {
    switch (rr.kind) {
    case outcome_kind::sent:
      v.delivered.push_back(std::move(rr.address));
      break;
    case outcome_kind::permanent:
      v.bounced.push_back(std::move(rr));
      break;
    case outcome_kind::transient:
      v.retry.push_back(std::move(rr));
      break;
    }
  };
  const outcome* first_sent = nullptr;
  for (const auto& d : r.domains) {
    if (d.outcome.kind == outcome_kind::sent && !first_sent) first_sent = &d.outcome;
    if (!d.outcome.recipients.empty()) {
      for (const auto& rr : d.outcome.recipients)
        place(rr);
      continue;
    }
    for (const auto& rcpt : d.recipients) // a failure before any RCPT: the domain's outcome
      place({rcpt, d.outcome.kind, d.outcome.last});
  }
  // Some domains took it, others did not: sent, with the others in the lists.
  v.decided = first_sent ? *first_sent : r.overall();
  v.decided.recipients.clear();
  return v;
}

struct dispatcher::impl {
  // One destination host's client (its connection pool); `busy` counts sends in it.
  struct host_client {
    std::unique_ptr<smtp::client> c;
    std::size_t busy = 0;
    clock::time_point last_used = clock::now();
  };

  impl(asio::any_io_executor e, routing_config c)
      : ex(std::move(e)), cfg(std::move(c)), gate(ex, cfg.shaping), reaper(ex) {
    if (cfg.mode == route::mode::relay)
      relay = std::make_unique<smtp::client>(ex, cfg.smtp);
    else
      resolver = std::make_unique<dns::resolver>(ex, cfg.direct.dns);
  }

  ~impl() { reaper.cancel(); }

  asio::any_io_executor ex;
  routing_config cfg;
  shaping::gate gate;
  std::unique_ptr<smtp::client> relay;
  std::unique_ptr<dns::resolver> resolver;
  std::map<std::string, host_client> hosts; // "address|port|tls" or "name|port|tls"
  asio::steady_timer reaper;
  bool reaper_armed = false;
  std::shared_ptr<int> alive = std::make_shared<int>(0); // guards the reaper after ~impl

  std::string relay_label() const { return cfg.smtp.host + ":" + std::to_string(cfg.smtp.port); }

  // The client for one MX address. Under `required` TLS it is addressed by the MX name, so that
  // the certificate is checked against that name (the session resolves it again, with the
  // system resolver: relay_config has no separate TLS name yet); otherwise by the address the
  // MX lookup gave.
  host_client& client_for(const route::target& t, std::string_view domain) {
    tls_mode tls = route::lookup(cfg.direct.tls_policies, domain, cfg.direct.tls);
    bool by_name = (tls == tls_mode::required || tls == tls_mode::implicit) && cfg.smtp.verify_peer;
    std::string host = by_name ? t.host : t.address;
    std::string key =
        host + '|' + std::to_string(cfg.direct.port) + '|' + std::to_string(static_cast<int>(tls));
    auto it = hosts.find(key);
    if (it == hosts.end()) {
      relay_config rc = cfg.smtp;
      rc.host = host;
      rc.port = cfg.direct.port;
      rc.tls = tls;
      rc.user.clear(); // MX servers take mail without AUTH
      rc.password.clear();
      const auto& lim = gate.shaper().destination_limits(domain);
      if (lim.max_connections) rc.max_connections = lim.max_connections;
      if (lim.max_messages_per_connection)
        rc.max_messages_per_connection = lim.max_messages_per_connection;
      it = hosts.emplace(std::move(key), host_client{std::make_unique<smtp::client>(ex, rc)}).first;
      arm_reaper();
    }
    return it->second;
  }

  void arm_reaper() {
    if (reaper_armed || hosts.empty()) return;
    reaper_armed = true;
    auto period = std::max<clock::duration>(cfg.direct.client_idle_timeout / 2,
                                            std::chrono::milliseconds(100));
    reaper.expires_after(period);
    reaper.async_wait([this, alive = std::weak_ptr<int>(alive)](const boost::system::error_code&) {
      if (alive.expired()) return;
      reaper_armed = false;
      reap();
      arm_reaper();
    });
  }

  // Drops the clients nobody used for client_idle_timeout; their idle connections QUIT.
  void reap() {
    auto now = clock::now();
    for (auto it = hosts.begin(); it != hosts.end();) {
      if (it->second.busy == 0 && now - it->second.last_used >= cfg.direct.client_idle_timeout) {
        it->second.c->close_idle();
        it = hosts.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Completion count of the domains of one envelope delivered at once.
  struct fan_in {
    fan_in(const asio::any_io_executor& ex, std::size_t n)
        : done(ex, clock::time_point::max()), pending(n) {}
    asio::steady_timer done;
    std::size_t pending;
  };

  // One domain's recipients: permit, MX lookup, then each MX address until one decides.
  awaitable<domain_outcome> deliver_domain(const std::string& from, const route::domain_group& g,
                                           std::string_view message, const std::string& tenant,
                                           const dot_gate* dot) {
    domain_outcome r{g.domain, g.recipients, {}, {}};
    if (g.domain.empty()) {
      r.outcome = classify::local_permanent("recipient address without a domain", phase::rcpt);
      co_return r;
    }
    auto permit = co_await gate.acquire(g.domain, tenant);

    dns::mx_result mx;
    if (auto literal = route::address_literal(g.domain)) {
      mx.status = dns::status::ok;
      mx.hosts.push_back({g.domain, 0, {*literal}, {}});
    } else {
      mx = co_await resolver->resolve_mx(g.domain);
    }
    if (mx.status != dns::status::ok) {
      r.outcome = dns_failure(mx);
      co_return r;
    }

    const envelope sub{from, g.recipients};
    const auto ts = route::targets(mx, std::max<std::size_t>(cfg.direct.max_addresses, 1));
    bool next = false;
    for (const auto& t : ts) {
      host_client& hc = client_for(t, g.domain);
      ++hc.busy;
      outcome o = co_await hc.c->send(sub, message, dot);
      --hc.busy;
      hc.last_used = clock::now();
      gate.on_reply(g.domain, o.last);
      r.host = t.host + '[' + t.address + ']';
      next = o.kind != outcome_kind::sent && route::try_next_host(o);
      r.outcome = std::move(o);
      if (!next) break;
    }
    // Every address failed before a transaction: the domain may be reachable later (a
    // required STARTTLS missing everywhere is deferred too, as Postfix does).
    if (next && r.outcome.kind == outcome_kind::permanent) r.outcome.kind = outcome_kind::transient;
    co_return r;
  }
};

dispatcher::dispatcher(asio::any_io_executor ex, routing_config cfg)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(cfg))) {}

dispatcher::~dispatcher() = default;

awaitable<dispatch_result> dispatcher::send(const envelope& env, std::string_view message,
                                            std::string_view tenant_in, const dot_gate* dot) {
  impl& d = *impl_;
  const std::string tenant(tenant_in); // copied before the first suspension
  dispatch_result res;
  const auto groups = route::group_by_domain(env.rcpt_to);
  if (groups.empty()) {
    res.domains.push_back({{}, {}, classify::local_permanent("no recipients"), {}});
    co_return res;
  }

  if (d.cfg.mode == route::mode::relay) {
    auto permit = co_await d.gate.acquire(d.cfg.smtp.host, tenant);
    outcome o = co_await d.relay->send(env, message, dot);
    d.gate.on_reply(d.cfg.smtp.host, o.last);
    for (const auto& g : groups)
      res.domains.push_back({g.domain, g.recipients, o, d.relay_label()});
    co_return res;
  }

  if (groups.size() == 1) {
    domain_outcome r =
        co_await d.deliver_domain(env.mail_from, groups.front(), message, tenant, dot);
    res.domains.push_back(std::move(r));
    co_return res;
  }
  // Domains at once, so that a slow or throttled one does not hold up the others; each holds
  // only its own permit, so there is no waiting while holding.
  res.domains.resize(groups.size());
  impl::fan_in f(d.ex, groups.size());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    // deliver_domain() holds references into this frame, which waits for every one of them;
    // the handler captures pointers only (GCC 12: no closure owning strings by value).
    domain_outcome* out = &res.domains[i];
    const route::domain_group* g = &groups[i];
    impl::fan_in* fp = &f;
    asio::co_spawn(d.ex, d.deliver_domain(env.mail_from, *g, message, tenant, dot),
                   [out, g, fp](std::exception_ptr e, domain_outcome r) {
                     if (e) // a bug or out of memory: never leave send() waiting
                       *out = {g->domain,
                               g->recipients,
                               classify::local_transient("internal error delivering"),
                               {}};
                     else
                       *out = std::move(r);
                     if (--fp->pending == 0) fp->done.cancel();
                   });
  }
  if (f.pending) co_await f.done.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return res;
}

awaitable<outcome> dispatcher::probe() {
  impl& d = *impl_;
  if (d.relay) co_return co_await d.relay->probe();
  co_return classify::sent({}, phase::local);
}

void dispatcher::close_idle() {
  impl& d = *impl_;
  if (d.relay) d.relay->close_idle();
  for (auto& [key, hc] : d.hosts)
    hc.c->close_idle();
}

std::size_t dispatcher::clients() const {
  return impl_->relay ? 1 : impl_->hosts.size();
}

std::size_t dispatcher::connections_opened() const {
  std::size_t n = impl_->relay ? impl_->relay->connections_opened() : 0;
  for (const auto& [key, hc] : impl_->hosts)
    n += hc.c->connections_opened();
  return n;
}

shaping::gate& dispatcher::shaping() {
  return impl_->gate;
}

} // namespace iaposte::smtp
