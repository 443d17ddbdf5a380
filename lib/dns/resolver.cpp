// c-ares channel driven by Asio: its sockets and timeouts watched on the caller's executor.
#include "dns/resolver.hpp"

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace iaposte::dns {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

// One outstanding query; shared by the c-ares callback and the coroutine awaiting it, so
// that neither outlives what it touches (ares_destroy calls back with ARES_EDESTRUCTION).
struct query_state {
  explicit query_state(const asio::any_io_executor& ex)
      : wake(ex, asio::steady_timer::clock_type::time_point::max()) {}
  asio::steady_timer wake;
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<unsigned char> answer;
};

// What c-ares is handed as the callback argument of one query.
struct in_flight {
  std::shared_ptr<query_state> q;
  std::function<void()> finished; // starts a queued query, unless the resolver is going away
};

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  std::unique_ptr<in_flight> f(static_cast<in_flight*>(arg));
  query_state& q = *f->q;
  q.status = status;
  if (abuf && alen > 0) q.answer.assign(abuf, abuf + alen);
  q.done = true;
  q.wake.cancel();
  if (status != ARES_EDESTRUCTION) f->finished();
}

awaitable<void> wait(query_state& q) {
  if (!q.done) co_await q.wake.async_wait(asio::as_tuple(asio::use_awaitable));
}

bool transient_failure(int status) {
  return status != ARES_SUCCESS && status != ARES_ENODATA && status != ARES_ENOTFOUND &&
         status != ARES_EBADNAME;
}

std::string describe(int status) {
  switch (status) {
  case ARES_ENOTFOUND:
    return "domain not found (NXDOMAIN)";
  case ARES_ENODATA:
    return "no such record";
  case ARES_ESERVFAIL:
    return "server failure (SERVFAIL)";
  case ARES_EREFUSED:
    return "query refused (REFUSED)";
  case ARES_ETIMEOUT:
    return "timeout";
  case ARES_ECONNREFUSED:
    // c-ares 1.18 ends a query that every server answered with SERVFAIL or REFUSED (after
    // trying each) with this status too.
    return "no usable answer (SERVFAIL, REFUSED or connection refused)";
  default:
    return ares_strerror(status);
  }
}

// Addresses from an A or AAAA answer; ARES_ENODATA when it holds none.
int parse_addresses(const query_state& q, int type, std::vector<std::string>& out) {
  if (q.status != ARES_SUCCESS) return q.status;
  const auto* buf = q.answer.data();
  int len = static_cast<int>(q.answer.size());
  char text[INET6_ADDRSTRLEN];
  int n = 32;
  if (type == ns_t_a) {
    ares_addrttl ttls[32];
    int rc = ares_parse_a_reply(buf, len, nullptr, ttls, &n);
    if (rc != ARES_SUCCESS) return rc;
    for (int i = 0; i < n; ++i)
      if (inet_ntop(AF_INET, &ttls[i].ipaddr, text, sizeof text)) out.emplace_back(text);
  } else {
    ares_addr6ttl ttls[32];
    int rc = ares_parse_aaaa_reply(buf, len, nullptr, ttls, &n);
    if (rc != ARES_SUCCESS) return rc;
    for (int i = 0; i < n; ++i)
      if (inet_ntop(AF_INET6, &ttls[i].ip6addr, text, sizeof text)) out.emplace_back(text);
  }
  return n > 0 ? ARES_SUCCESS : ARES_ENODATA;
}

struct address_lookup {
  std::shared_ptr<query_state> a, aaaa;
};

} // namespace

struct resolver::impl : std::enable_shared_from_this<impl> {
  // A socket c-ares asked us to watch. The descriptor never owns the fd: c-ares closes it
  // after telling us (readable = writable = 0), and we release() it then.
  struct watch {
    watch(const asio::any_io_executor& ex, int fd) : d(ex, fd) {}
    asio::posix::stream_descriptor d;
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
    bool closed = false;
  };

  impl(asio::any_io_executor e, resolver_config c)
      : ex(std::move(e)), cfg(std::move(c)), timer(ex) {}

  asio::any_io_executor ex;
  resolver_config cfg;
  ares_channel channel = nullptr;
  asio::steady_timer timer;
  std::map<ares_socket_t, std::shared_ptr<watch>> watches;
  std::mt19937 rng{std::random_device{}()};
  std::size_t sent = 0;

  void start() {
    static std::once_flag once;
    static int init_rc = ARES_SUCCESS;
    std::call_once(once, [] { init_rc = ares_library_init(ARES_LIB_INIT_ALL); });
    if (init_rc != ARES_SUCCESS)
      throw std::runtime_error(std::string("c-ares: ") + ares_strerror(init_rc));

    std::string csv;
    for (const auto& ns : cfg.nameservers) {
      std::string entry = nameserver_csv_entry(ns);
      if (entry.empty()) throw std::invalid_argument("nameserver: not an address: \"" + ns + "\"");
      csv += (csv.empty() ? "" : ",") + entry;
    }

    ares_options opts{};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
    opts.sock_state_cb = &impl::sock_state;
    opts.sock_state_cb_data = this;
    opts.timeout = static_cast<int>(std::max<long long>(cfg.timeout.count(), 1));
    opts.tries = std::max(cfg.tries, 1);
    opts.flags = ARES_FLAG_NOSEARCH; // names are absolute: never append search domains
    int rc = ares_init_options(&channel, &opts, mask);
    if (rc != ARES_SUCCESS)
      throw std::runtime_error(std::string("c-ares init: ") + ares_strerror(rc));
    if (!csv.empty()) {
      rc = ares_set_servers_ports_csv(channel, csv.c_str());
      if (rc != ARES_SUCCESS)
        throw std::invalid_argument("nameservers \"" + csv + "\": " + ares_strerror(rc));
    }
  }

  ~impl() {
    if (channel) ares_destroy(channel); // fails what is pending, closes its sockets
    for (auto& [fd, w] : watches) {
      w->closed = true;
      w->d.release();
    }
    timer.cancel();
  }

  static void sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<impl*>(data)->on_sock_state(fd, readable != 0, writable != 0);
  }

  void on_sock_state(ares_socket_t fd, bool readable, bool writable) {
    auto it = watches.find(fd);
    if (!readable && !writable) {
      if (it == watches.end()) return;
      it->second->closed = true;
      it->second->d.release(); // cancels its waits; c-ares closes the fd right after
      watches.erase(it);
      return;
    }
    if (it == watches.end()) it = watches.emplace(fd, std::make_shared<watch>(ex, fd)).first;
    it->second->want_read = readable;
    it->second->want_write = writable;
    arm(fd, it->second);
  }

  void arm(ares_socket_t fd, const std::shared_ptr<watch>& w) {
    std::weak_ptr<impl> self = weak_from_this();
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->d.async_wait(asio::posix::descriptor_base::wait_read,
                      [self, fd, w](const boost::system::error_code& ec) {
                        w->reading = false;
                        auto d = self.lock();
                        if (ec || w->closed || !d) return;
                        ares_process_fd(d->channel, fd, ARES_SOCKET_BAD);
                        d->after_activity(fd, w);
                      });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->d.async_wait(asio::posix::descriptor_base::wait_write,
                      [self, fd, w](const boost::system::error_code& ec) {
                        w->writing = false;
                        auto d = self.lock();
                        if (ec || w->closed || !d) return;
                        ares_process_fd(d->channel, ARES_SOCKET_BAD, fd);
                        d->after_activity(fd, w);
                      });
    }
  }

  void after_activity(ares_socket_t fd, const std::shared_ptr<watch>& w) {
    if (!w->closed) arm(fd, w);
    schedule();
  }

  // One timer for c-ares's next retransmission or timeout; none while nothing is pending.
  void schedule() {
    timeval tv{};
    if (!ares_timeout(channel, nullptr, &tv)) {
      timer.cancel();
      return;
    }
    timer.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
    std::weak_ptr<impl> self = weak_from_this();
    timer.async_wait([self](const boost::system::error_code& ec) {
      auto d = self.lock();
      if (ec || !d) return;
      ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD); // handles the timeouts
      d->schedule();
    });
  }

  // Queries beyond max_in_flight wait here: a burst (many messages to new domains) would
  // otherwise overflow the name server's UDP receive buffer, and every lost query costs a
  // retransmission timeout.
  struct queued {
    std::string name;
    int type;
    std::shared_ptr<query_state> q;
  };
  std::deque<queued> backlog;
  std::size_t outstanding = 0;

  std::shared_ptr<query_state> start_query(const std::string& name, int type) {
    auto q = std::make_shared<query_state>(ex);
    if (outstanding >= std::max<std::size_t>(cfg.max_in_flight, 1))
      backlog.push_back({name, type, q});
    else
      launch(name, type, q);
    return q;
  }

  void launch(const std::string& name, int type, const std::shared_ptr<query_state>& q) {
    ++sent;
    ++outstanding;
    auto* f = new in_flight{q, [this] { finished(); }};
    ares_query(channel, name.c_str(), ns_c_in, type, &on_answer, f); // may call back at once
    schedule();
  }

  void finished() {
    --outstanding;
    if (backlog.empty()) return;
    queued next = std::move(backlog.front());
    backlog.pop_front();
    launch(next.name, next.type, next.q);
  }

  address_lookup start_addresses(const std::string& host) {
    return {start_query(host, ns_t_a), start_query(host, ns_t_aaaa)};
  }

  // Both answers of an address lookup in one result.
  static address_result finish(const std::string& host, const address_lookup& l) {
    address_result r;
    int a = parse_addresses(*l.a, ns_t_a, r.addresses);
    int aaaa = parse_addresses(*l.aaaa, ns_t_aaaa, r.addresses);
    if (!r.addresses.empty()) {
      r.status = status::ok;
      return r;
    }
    int worst = transient_failure(a) ? a : aaaa;
    r.status = transient_failure(worst) ? status::transient : status::permanent;
    if (!transient_failure(worst) && (a == ARES_ENOTFOUND || aaaa == ARES_ENOTFOUND))
      worst = ARES_ENOTFOUND;
    r.error = host + ": " + (worst == ARES_ENODATA ? "no A or AAAA record" : describe(worst));
    return r;
  }
};

resolver::resolver(asio::any_io_executor ex, resolver_config cfg)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(cfg))) {
  impl_->start();
}

resolver::~resolver() = default;

std::size_t resolver::queries() const {
  return impl_->sent;
}

awaitable<address_result> resolver::resolve_addresses(std::string_view host_in) {
  std::string host = normalize_domain(host_in);
  if (host.empty()) co_return address_result{status::permanent, {}, "invalid host name"};
  impl& d = *impl_;
  address_lookup l = d.start_addresses(host);
  co_await wait(*l.a);
  co_await wait(*l.aaaa);
  co_return impl::finish(host, l);
}

awaitable<mx_result> resolver::resolve_mx(std::string_view domain_in) {
  std::string domain = normalize_domain(domain_in); // copied before the first suspension
  mx_result res;
  auto fail = [&res](status st, std::string enhanced, std::string error) {
    res.status = st;
    res.enhanced = std::move(enhanced);
    res.error = std::move(error);
    res.hosts.clear();
  };
  if (domain.empty()) {
    fail(status::permanent, "5.1.2", "invalid domain name");
    co_return res;
  }
  impl& d = *impl_;

  auto q = d.start_query(domain, ns_t_mx);
  co_await wait(*q);
  std::vector<mx_record> records;
  int rc = q->status;
  if (rc == ARES_SUCCESS) {
    ares_mx_reply* mx = nullptr;
    rc = ares_parse_mx_reply(q->answer.data(), static_cast<int>(q->answer.size()), &mx);
    for (auto* m = mx; rc == ARES_SUCCESS && m; m = m->next)
      records.push_back({normalize_domain(m->host), m->priority});
    if (mx) ares_free_data(mx);
  }
  if (rc == ARES_ENOTFOUND) {
    fail(status::permanent, "5.1.2", domain + ": " + describe(rc));
    co_return res;
  }
  if (rc != ARES_SUCCESS && rc != ARES_ENODATA) {
    fail(status::transient, "4.4.3", domain + ": MX lookup: " + describe(rc));
    co_return res;
  }
  if (is_null_mx(records)) {
    fail(status::permanent, "5.1.10", domain + ": does not accept mail (null MX, RFC 7505)");
    co_return res;
  }

  std::vector<mx_record> ordered = order_mx(std::move(records), d.rng);
  if (ordered.empty()) { // no MX: the domain itself, as an MX of preference 0 (RFC 5321 §5.1)
    res.implicit = true;
    ordered.push_back({domain, 0});
  }
  if (ordered.size() > d.cfg.max_mx_hosts)
    ordered.resize(std::max<std::size_t>(d.cfg.max_mx_hosts, 1));

  std::vector<address_lookup> lookups; // all asked at once, awaited in order
  lookups.reserve(ordered.size());
  for (const auto& r : ordered)
    lookups.push_back(d.start_addresses(r.host));
  bool any_transient = false;
  std::string first_error;
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    co_await wait(*lookups[i].a);
    co_await wait(*lookups[i].aaaa);
    address_result a = impl::finish(ordered[i].host, lookups[i]);
    if (a.status == status::ok) {
      res.hosts.push_back({ordered[i].host, ordered[i].preference, std::move(a.addresses), {}});
      continue;
    }
    any_transient = any_transient || a.status == status::transient;
    if (first_error.empty()) first_error = a.error;
  }
  if (!res.hosts.empty()) {
    res.status = status::ok;
  } else if (any_transient) {
    fail(status::transient, "4.4.3", domain + ": no address for any MX host: " + first_error);
  } else {
    fail(status::permanent, res.implicit ? "5.1.2" : "5.4.4",
         domain + (res.implicit ? ": no MX and no address: " : ": no address for any MX host: ") +
             first_error);
  }
  co_return res;
}

} // namespace iaposte::dns
