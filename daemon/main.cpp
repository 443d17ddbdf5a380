// iaposted: wires config, PostgreSQL, Kafka, the SMTP client and the worker around one
// io_context; owns signals, systemd notification and the drain on SIGTERM.
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "admin/server.hpp"
#include "ai/client.hpp"
#include "config/config.hpp"
#include "content/stage.hpp"
#include "core/text.hpp"
#include "kafka/kafka.hpp"
#include "log/log.hpp"
#include "metrics/metrics.hpp"
#include "smtp/dispatch.hpp"
#include "store/content_lookup.hpp"
#include "store/store.hpp"
#include "unsubscribe/routes.hpp"
#include "unsubscribe/unsubscribe.hpp"
#include "worker/worker.hpp"

namespace asio = boost::asio;
using namespace iaposte;

namespace {

constexpr const char* usage = R"(usage: iaposted [--config FILE] [--check-config]

Consumes send requests from Kafka, delivers them over SMTP, records every step in
PostgreSQL and publishes status events.

  --config FILE    TOML configuration (default: $IAPOSTE_CONFIG, else built-in defaults)
  --check-config   validate the configuration, print it (secrets hidden), exit
  --help           this text

Every key can be overridden from the environment: IAPOSTE_<SECTION>_<KEY>, and
SMTP_SERVER, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, KAFKA_BROKERS, DATABASE_URL.
Exit codes: 0 clean stop, 1 a dependency unreachable at start, 2 bad configuration.
)";

// What /metrics and /readyz show: counters copied from the worker (whose state lives on the
// executor) once a second, gauges read at scrape time from thread-safe accessors, and the
// reachability of each dependency.
struct daemon_metrics {
  metrics::registry& reg;
  std::map<std::string, metrics::counter*> by_status;
  metrics::counter& handed_off;
  metrics::counter& republished;
  metrics::counter& unconfirmed;
  metrics::counter& dot_holds;
  metrics::counter& dot_hold_us;
  metrics::counter& internal_errors;
  metrics::gauge& smtp_clients;     // per-destination clients (relay mode: 1)
  metrics::gauge& smtp_connections; // connections opened so far, over the clients alive
  worker::counters last{};
  std::atomic<bool> kafka_ok{true}, smtp_ok{true};
  // The relay failed the probe at start and has not answered one since.
  std::atomic<bool> relay_probe_failing{false};

  explicit daemon_metrics(metrics::registry& r)
      : reg(r), handed_off(r.counter("iaposte_retry_handoffs_total",
                                     "Waits handed to a retry topic instead of waited in-process")),
        republished(r.counter("iaposte_republished_total",
                              "Terminal events published again after a crash")),
        unconfirmed(r.counter("iaposte_unconfirmed_total",
                              "Requests found sending after a crash, reported sent unconfirmed")),
        dot_holds(r.counter("iaposte_dot_holds_total",
                            "Final dots held for the attempt's sending record (at_most_once)")),
        dot_hold_us(r.counter("iaposte_dot_hold_microseconds_total",
                              "Time those dots waited for the record's commit")),
        internal_errors(r.counter("iaposte_internal_errors_total",
                                  "Request handlings that failed with an internal error (a bug)")),
        smtp_clients(r.gauge("iaposte_smtp_clients", "SMTP destinations with a client (pool)")),
        smtp_connections(r.gauge("iaposte_smtp_connections_opened",
                                 "SMTP connections opened by the clients alive")) {
    for (const char* st : {"received", "sent", "deferred", "bounced", "failed", "rejected",
                           "duplicate", "suppressed"})
      by_status[st] =
          &r.counter("iaposte_requests_total", "Requests received, and status events by status",
                     {{"status", st}});
  }

  void update(const worker::counters& s) {
    auto add = [](metrics::counter& c, std::size_t now, std::size_t before) {
      if (now > before) c.inc(now - before);
    };
    add(*by_status["received"], s.received, last.received);
    add(*by_status["sent"], s.sent, last.sent);
    add(*by_status["deferred"], s.deferred, last.deferred);
    add(*by_status["bounced"], s.bounced, last.bounced);
    add(*by_status["failed"], s.failed, last.failed);
    add(*by_status["rejected"], s.rejected, last.rejected);
    add(*by_status["duplicate"], s.duplicate, last.duplicate);
    add(*by_status["suppressed"], s.suppressed, last.suppressed);
    add(handed_off, s.handed_off, last.handed_off);
    add(republished, s.republished, last.republished);
    add(unconfirmed, s.unconfirmed, last.unconfirmed);
    add(dot_holds, s.dot_holds, last.dot_holds);
    add(dot_hold_us, s.dot_hold_us, last.dot_hold_us);
    add(internal_errors, s.internal_errors, last.internal_errors);
    last = s;
  }
};

// Every second: metrics from the worker's counters, the systemd watchdog when enabled, the
// SMTP state for /readyz, and a stats log line every 10 s.
asio::awaitable<void> heartbeat(worker::worker& w, kafka::consumer& c, store::store& db,
                                smtp::dispatcher& smtp, daemon_metrics& dm, const bool& stopping) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  uint64_t watchdog_usec = 0;
  bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
  auto period = std::chrono::milliseconds(1000);
  if (watchdog && std::chrono::microseconds(watchdog_usec / 2) < period)
    period = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::microseconds(watchdog_usec / 2));
  auto last_log = std::chrono::steady_clock::now();
  while (!stopping) {
    timer.expires_after(period);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (watchdog) sd_notify(0, "WATCHDOG=1");
    auto s = w.stats();
    dm.update(s);
    dm.smtp_clients.set(static_cast<double>(smtp.clients())); // executor-only state
    dm.smtp_connections.set(static_cast<double>(smtp.connections_opened()));
    auto now = std::chrono::steady_clock::now();
    // SMTP is down for /readyz after 5 attempts in a row got no reply at all (connection
    // refused, TLS or timeout); up again at the first reply, whatever its code.
    bool smtp_ok = s.smtp_no_reply_streak < 5 && !dm.relay_probe_failing;
    if (smtp_ok != dm.smtp_ok.load())
      log::warn(smtp_ok ? "smtp.reachable" : "smtp.unreachable",
                {{"attempts_without_reply", s.smtp_no_reply_streak}});
    dm.smtp_ok = smtp_ok;
    if (now - last_log >= std::chrono::seconds(10)) {
      last_log = now;
      log::info("daemon.stats", {{"received", s.received},
                                 {"sent", s.sent},
                                 {"deferred", s.deferred},
                                 {"bounced", s.bounced},
                                 {"failed", s.failed},
                                 {"rejected", s.rejected},
                                 {"duplicate", s.duplicate},
                                 {"handed_off", s.handed_off},
                                 {"unconfirmed", s.unconfirmed},
                                 {"dot_holds", s.dot_holds},
                                 {"dot_hold_us", s.dot_hold_us},
                                 {"in_flight", c.in_flight()},
                                 {"ai_detached", s.ai_detached},
                                 {"parked", s.parked},
                                 {"internal_errors", s.internal_errors},
                                 {"paused", c.paused()},
                                 {"held", c.held()},
                                 {"postgres_healthy", db.healthy()},
                                 {"kafka_reachable", dm.kafka_ok.load()},
                                 {"smtp_reachable", dm.smtp_ok.load()}});
    }
  }
}

// After a failed probe at start: the relay probed again every 5 s until it answers, so that
// /readyz turns ready without waiting for five deliveries to succeed. Requests meanwhile
// are deferred by the normal backoff.
asio::awaitable<void> reprobe_relay(smtp::dispatcher& smtp, daemon_metrics& dm,
                                    const bool& stopping) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  while (!stopping && dm.relay_probe_failing) {
    timer.expires_after(std::chrono::seconds(5));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping) break;
    smtp::outcome o = co_await smtp.probe();
    if (o.kind == smtp::outcome_kind::sent) {
      dm.relay_probe_failing = false;
      log::info("smtp.relay_answers");
    }
  }
}

// The topics the daemon reads and writes, created at start when missing.
std::vector<std::string> all_topics(const config::daemon_config& cfg) {
  std::vector<std::string> topics{cfg.kafka.requests_topic, cfg.kafka.status_topic,
                                  cfg.kafka.dlq_topic};
  for (const auto& t : cfg.delivery.retry_tiers)
    topics.push_back(t.topic);
  return topics;
}

// The content stage's configuration (lib/content) from the daemon's.
// The one-click links of marketing mail, when [unsubscribe] is configured.
struct unsubscribe_links {
  unsubscribe::config cfg;
  unsubscribe::secret_set secrets;
  unsubscribe::signer sign{secrets};
  unsubscribe::verifier verify{secrets};
};

content::stage_config stage_config_of(const config::daemon_config& cfg,
                                      const unsubscribe_links* links) {
  content::stage_config sc;
  sc.limits = cfg.limits;
  sc.message_id_domain = cfg.delivery.message_id_domain;
  sc.dkim_keys = cfg.content.dkim_keys;
  sc.raw_html_tenants = cfg.content.raw_html_tenants;
  if (links)
    sc.unsubscribe = [links](std::string_view tenant, std::string_view address,
                             std::string_view list) {
      auto h = unsubscribe::headers_for(
          links->cfg, links->sign, {std::string(tenant), std::string(address), std::string(list)});
      return std::make_pair(std::move(h.list_unsubscribe), std::move(h.list_unsubscribe_post));
    };
  return sc;
}

int run(const config::daemon_config& cfg, content::stage& stage, const unsubscribe_links* links) {
  log::info("daemon.starting", {{"instance_id", cfg.instance_id}});

  store::store db(cfg.store);
  try {
    db.migrate();
  } catch (const std::exception& e) {
    log::error("startup.failed", {{"component", "postgresql"}, {"error", e.what()}});
    return 1;
  }

  kafka::properties producer_props{{"compression.type", cfg.kafka.compression}};
  kafka::producer producer(
      {cfg.kafka.brokers, cfg.kafka.linger, std::chrono::minutes(5), producer_props});
  try {
    producer.check_reachable(std::chrono::seconds(10));
    if (cfg.kafka.create_topics)
      producer.ensure_topics(all_topics(cfg), cfg.kafka.topic_partitions, std::chrono::seconds(10));
  } catch (const std::exception& e) {
    log::error("startup.failed",
               {{"component", "kafka"}, {"brokers", cfg.kafka.brokers}, {"error", e.what()}});
    return 1;
  }

  // A CA file that cannot be loaded or a bad helo_name would defer every request forever:
  // a configuration error (exit 2), unlike a relay that is down or broken (started, not ready).
  {
    smtp::relay_config checked = cfg.routing.smtp;
    if (cfg.routing.mode == smtp::route::mode::direct) {
      checked.tls = cfg.routing.direct.tls;
      for (const auto& [domain, mode] : cfg.routing.direct.tls_policies)
        if (mode == smtp::tls_mode::required) checked.tls = mode;
    }
    if (auto why = smtp::client::config_problem(checked); !why.empty()) {
      log::error("startup.failed", {{"component", "smtp"}, {"error", why}});
      std::cerr << "iaposted: configuration error: smtp: " << why << "\n";
      return 2;
    }
  }

  asio::io_context io(1);
  auto work = asio::make_work_guard(io);
  std::optional<smtp::dispatcher> smtp_holder;
  try {
    smtp_holder.emplace(io.get_executor(), cfg.routing);
  } catch (const std::exception& e) {
    log::error("startup.failed", {{"component", "routing"}, {"error", e.what()}});
    return 1;
  }
  smtp::dispatcher& smtp = *smtp_holder;
  // A relay that is down or answers garbage at start does not stop the daemon (under
  // Restart=on-failure that would be a crash loop in which nothing is even deferred): it
  // starts not ready for smtp, requests are deferred by the normal backoff, and the relay is
  // probed again every few seconds until it answers.
  bool relay_down_at_start = false;
  if (cfg.delivery.probe_smtp_at_start) {
    smtp::outcome probe;
    asio::co_spawn(io, smtp.probe(), [&](std::exception_ptr e, smtp::outcome o) {
      probe = std::move(o);
      if (e) probe.error = "probe failed";
      io.stop();
    });
    io.run();
    io.restart();
    if (probe.kind != smtp::outcome_kind::sent) {
      relay_down_at_start = true;
      log::error(
          "smtp.unreachable_at_start",
          {{"component", "smtp"},
           {"relay", cfg.smtp.host + ":" + std::to_string(cfg.smtp.port)},
           {"error", core::clean_text(probe.error.empty() ? probe.last.text() : probe.error)}});
    }
  }

  kafka::properties consumer_props{
      {"session.timeout.ms", std::to_string(cfg.kafka.session_timeout.count())}};
  if (!cfg.kafka.group_instance_id.empty())
    consumer_props["group.instance.id"] = cfg.kafka.group_instance_id;
  std::vector<std::string> intake{cfg.kafka.requests_topic};
  for (const auto& t : cfg.delivery.retry_tiers)
    intake.push_back(t.topic);
  kafka::consumer consumer({cfg.kafka.brokers, cfg.kafka.group_id, intake, true, "earliest",
                            cfg.delivery.max_in_flight, cfg.kafka.commit_interval, consumer_props});

  worker::worker_config wcfg;
  wcfg.status_topic = cfg.kafka.status_topic;
  wcfg.dlq_topic = cfg.kafka.dlq_topic;
  wcfg.limits = cfg.limits;
  wcfg.backoff = cfg.backoff;
  wcfg.message_id_domain = cfg.delivery.message_id_domain;
  wcfg.in_process_max = cfg.delivery.in_process_max;
  wcfg.lifetime = cfg.delivery.lifetime;
  wcfg.confirm_before_dot = cfg.delivery.at_most_once;
  wcfg.publish_accepted = cfg.kafka.publish_accepted;
  wcfg.ai_max_waiting = cfg.delivery.ai_max_waiting;
  wcfg.max_parked = cfg.delivery.max_parked;
  wcfg.internal_error_attempts = cfg.delivery.internal_error_attempts;
  wcfg.content_threads = cfg.content.threads;
  wcfg.retry_tiers = cfg.delivery.retry_tiers;
  for (std::size_t b = 0, e; b < cfg.delivery.hold_negative.size(); b = e + 1) {
    e = cfg.delivery.hold_negative.find(',', b);
    if (e == std::string::npos) e = cfg.delivery.hold_negative.size();
    auto t = cfg.delivery.hold_negative.substr(b, e - b);
    t.erase(0, t.find_first_not_of(' '));
    t.erase(t.find_last_not_of(' ') + 1);
    if (!t.empty()) wcfg.hold_negative_tenants.insert(t);
  }
  ai::client ai_client(io.get_executor(), cfg.ai);
  kafka::key_finder status_finder(cfg.kafka.brokers, cfg.kafka.status_topic);
  store::content_lookup lookup({cfg.store.url});
  worker::worker w(
      io.get_executor(), wcfg, producer, db, smtp, stage,
      [&consumer](const kafka::message& m) { consumer.done(m); }, &lookup, &status_finder,
      &ai_client, [&consumer](kafka::message& m) { consumer.release_slot(m); });

  // Admin HTTP: its own thread; checks and gauges read thread-safe state only.
  metrics::registry reg;
  daemon_metrics dm(reg);
  reg.gauge_callback("iaposte_in_flight", "Requests handed out by Kafka and not done", {},
                     [&consumer] { return static_cast<double>(consumer.in_flight()); });
  reg.gauge_callback("iaposte_kafka_paused", "1 while intake is paused (back-pressure)", {},
                     [&consumer] { return consumer.paused() ? 1.0 : 0.0; });
  reg.gauge_callback("iaposte_kafka_held_partitions", "Retry partitions waiting for their head", {},
                     [&consumer] { return static_cast<double>(consumer.held()); });
  reg.gauge_callback("iaposte_kafka_evictions", "Times the group evicted this member", {},
                     [&consumer] { return static_cast<double>(consumer.evictions()); });
  reg.gauge_callback("iaposte_kafka_produce_queue", "Messages waiting for a broker ack", {},
                     [&producer] { return static_cast<double>(producer.queued()); });
  reg.gauge_callback("iaposte_store_pending", "PostgreSQL operations not completed yet", {},
                     [&db] { return static_cast<double>(db.pending()); });
  reg.gauge_callback("iaposte_store_transactions", "Group-commit transactions committed", {},
                     [&db] { return static_cast<double>(db.transactions()); });
  reg.gauge_callback("iaposte_content_lookups_pending",
                     "Content look-ups and suppression writes "
                     "not answered yet",
                     {}, [&lookup] { return static_cast<double>(lookup.pending()); });
  reg.gauge_callback("iaposte_content_lookup_statements", "Content look-up statements sent", {},
                     [&lookup] { return static_cast<double>(lookup.statements()); });
  reg.gauge_callback("iaposte_content_template_cache_hits",
                     "Template versions resolved without PostgreSQL", {},
                     [&lookup] { return static_cast<double>(lookup.template_cache_hits()); });

  for (const auto& [name, fn] : std::vector<std::pair<std::string, std::function<bool()>>>{
           {"postgres", [&db] { return db.healthy(); }},
           {"kafka", [&dm] { return dm.kafka_ok.load(); }},
           {"smtp", [&dm] { return dm.smtp_ok.load(); }}})
    reg.gauge_callback("iaposte_dependency_up", "1 while the dependency answers", {{"name", name}},
                       [fn = fn] { return fn() ? 1.0 : 0.0; });
  // AI client counters: atomics, read at scrape time.
  {
    const ai::metrics& am = ai_client.stats();
    auto count = [&reg](const char* name, const char* help, const std::atomic<std::uint64_t>& v,
                        metrics::labels l = {}) {
      reg.gauge_callback(name, help, std::move(l), [&v] { return static_cast<double>(v.load()); });
    };
    count("iaposte_ai_requests", "Requests that asked for AI content", am.requests);
    count("iaposte_ai_cache_hits", "AI answers from the cache", am.cache_hits_memory,
          {{"cache", "memory"}});
    count("iaposte_ai_cache_hits", "AI answers from the cache", am.cache_hits_pg,
          {{"cache", "postgres"}});
    count("iaposte_ai_cache_misses", "AI cache misses", am.cache_misses);
    count("iaposte_ai_fallbacks", "AI results not from the first provider", am.fallbacks);
    count("iaposte_ai_template_fallbacks", "AI requests that fell back to the template",
          am.template_fallbacks);
    for (const auto& p : am.providers) {
      metrics::labels l{{"provider", p.name}};
      count("iaposte_ai_calls", "HTTP attempts per provider", p.calls, l);
      count("iaposte_ai_failures", "Failed provider calls (after retries)", p.failures, l);
      count("iaposte_ai_tokens_in", "Prompt tokens per provider", p.tokens_in, l);
      count("iaposte_ai_tokens_out", "Completion tokens per provider", p.tokens_out, l);
      count("iaposte_ai_latency_ms_sum", "Latency of successful calls, sum", p.latency_ms_sum, l);
      count("iaposte_ai_latency_count", "Successful calls timed", p.latency_count, l);
      reg.gauge_callback("iaposte_ai_breaker_state", "0 closed, 1 open, 2 half-open", l,
                         [&p] { return static_cast<double>(p.breaker.load()); });
    }
  }
  admin::server admin_http(cfg.admin, &reg);
  admin_http.add_check("postgres", [&db] {
    return admin::check_result{db.healthy(), db.healthy() ? "ok" : "unreachable"};
  });
  admin_http.add_check("kafka", [&dm] {
    return admin::check_result{dm.kafka_ok.load(), dm.kafka_ok ? "ok" : "no broker answers"};
  });
  admin_http.add_check("smtp", [&dm] {
    if (dm.smtp_ok) return admin::check_result{true, "ok"};
    return admin::check_result{false, dm.relay_probe_failing
                                          ? "the relay failed its probe at start"
                                          : "5 attempts in a row without a reply"};
  });
  if (links)
    unsubscribe::add_routes(
        admin_http, links->verify,
        [&lookup](store::suppression s, unsubscribe::suppress_done d) {
          lookup.suppress(std::move(s), std::move(d));
        },
        links->cfg);
  try {
    admin_http.start();
  } catch (const std::exception& e) {
    log::error("startup.failed", {{"component", "admin"}, {"error", e.what()}});
    return 1;
  }

  // Kafka reachability, probed off the Asio thread (a metadata request every 5 s).
  std::atomic<bool> probing{true};
  std::thread kafka_probe([&] {
    while (probing) {
      bool ok = true;
      try {
        producer.check_reachable(std::chrono::seconds(3));
      } catch (const std::exception&) {
        ok = false;
      }
      if (ok != dm.kafka_ok.load()) log::warn(ok ? "kafka.reachable" : "kafka.unreachable");
      dm.kafka_ok = ok;
      for (int i = 0; i < 50 && probing; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  db.start();
  lookup.start();
  consumer.start([&w](kafka::message m) { w.submit(std::move(m)); });

  bool stopping = false;
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log::info("daemon.stopping", {{"signal", sig}, {"in_flight", w.active()}});
    sd_notify(0, "STOPPING=1");
    stopping = true;
    consumer.stop_intake();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await w.drain(cfg.delivery.drain_timeout);
          smtp.close_idle();
          work.reset();
          io.stop();
        },
        asio::detached);
  });
  asio::co_spawn(io, heartbeat(w, consumer, db, smtp, dm, stopping), asio::detached);
  if (relay_down_at_start) {
    dm.relay_probe_failing = true;
    dm.smtp_ok = false;
    asio::co_spawn(io, reprobe_relay(smtp, dm, stopping), asio::detached);
  }

  sd_notify(0, "READY=1");
  log::info("daemon.ready",
            {{"requests_topic", cfg.kafka.requests_topic},
             {"admin_port", admin_http.port()},
             {"group_id", cfg.kafka.group_id},
             {"routing", cfg.routing.mode == smtp::route::mode::direct ? "direct" : "relay"},
             {"relay", cfg.smtp.host + ":" + std::to_string(cfg.smtp.port)}});
  io.run();

  admin_http.stop();
  probing = false;
  kafka_probe.join();
  consumer.close(); // commits the stored offsets
  producer.flush(std::chrono::seconds(10));
  lookup.stop(std::chrono::seconds(2));
  db.stop(std::chrono::seconds(5));
  auto s = w.stats();
  log::info("daemon.stopped", {{"received", s.received}, {"sent", s.sent}});
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string path;
  if (const char* p = std::getenv("IAPOSTE_CONFIG")) path = p;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--check-config") {
      check = true;
    } else if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    } else {
      std::cerr << "iaposted: unknown argument " << a << "\n" << usage;
      return 2;
    }
  }
  config::daemon_config cfg;
  try {
    cfg = config::load(path, [](const char* n) { return std::getenv(n); });
  } catch (const config::config_error& e) {
    std::cerr << "iaposted: configuration error: " << e.what() << "\n";
    return 2;
  }
  // The DKIM keys are read now: a key that cannot be used is a configuration error.
  std::optional<unsubscribe_links> links;
  if (!cfg.unsubscribe.base_url.empty()) {
    try {
      links.emplace(unsubscribe_links{
          cfg.unsubscribe,
          unsubscribe::load_secrets(cfg.unsubscribe.secret_files,
                                    [](const char* n) { return std::getenv(n); })});
    } catch (const std::exception& e) {
      std::cerr << "iaposted: configuration error: " << e.what() << "\n";
      return 2;
    }
  }
  std::optional<content::stage> stage;
  try {
    stage.emplace(stage_config_of(cfg, links ? &*links : nullptr));
  } catch (const std::exception& e) {
    std::cerr << "iaposted: configuration error: dkim.keys: " << e.what() << "\n";
    return 2;
  }
  if (check) {
    std::cout << config::describe(cfg).dump(2) << "\n";
    return 0;
  }
  log::setup(cfg.log_level);
  for (const auto& r : stage->dns_records())
    log::info("dkim.key_loaded", {{"record", r.name}});
  try {
    return run(cfg, *stage, links ? &*links : nullptr);
  } catch (const std::exception& e) {
    log::error("daemon.fatal", {{"error", e.what()}});
    return 1;
  }
}
