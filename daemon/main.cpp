// iaposted: wires config, PostgreSQL, Kafka, the SMTP client and the worker around one
// io_context; owns signals, systemd notification and the drain on SIGTERM.
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/config.hpp"
#include "kafka/kafka.hpp"
#include "log/log.hpp"
#include "smtp/client.hpp"
#include "store/store.hpp"
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

// Logs counters every 10 s and pings the systemd watchdog when it is enabled.
asio::awaitable<void> heartbeat(worker::worker& w, kafka::consumer& c, store::store& db,
                                const bool& stopping) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  uint64_t watchdog_usec = 0;
  bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
  auto period = watchdog ? std::chrono::microseconds(watchdog_usec / 2) : std::chrono::seconds(10);
  if (period > std::chrono::seconds(10)) period = std::chrono::seconds(10);
  auto last_log = std::chrono::steady_clock::now();
  while (!stopping) {
    timer.expires_after(period);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (watchdog) sd_notify(0, "WATCHDOG=1");
    if (std::chrono::steady_clock::now() - last_log >= std::chrono::seconds(10)) {
      last_log = std::chrono::steady_clock::now();
      auto s = w.stats();
      log::info("daemon.stats", {{"received", s.received},
                                 {"sent", s.sent},
                                 {"deferred", s.deferred},
                                 {"bounced", s.bounced},
                                 {"failed", s.failed},
                                 {"rejected", s.rejected},
                                 {"duplicate", s.duplicate},
                                 {"in_flight", c.in_flight()},
                                 {"paused", c.paused()},
                                 {"postgres_healthy", db.healthy()}});
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

int run(const config::daemon_config& cfg) {
  log::info("daemon.starting", {{"instance_id", cfg.instance_id}});

  store::store db(cfg.store);
  try {
    db.migrate();
  } catch (const std::exception& e) {
    log::error("startup.failed", {{"component", "postgresql"}, {"error", e.what()}});
    return 1;
  }

  kafka::producer producer({cfg.kafka.brokers, cfg.kafka.linger, std::chrono::minutes(5), {}});
  try {
    producer.check_reachable(std::chrono::seconds(10));
    if (cfg.kafka.create_topics)
      producer.ensure_topics(all_topics(cfg), cfg.kafka.topic_partitions, std::chrono::seconds(10));
  } catch (const std::exception& e) {
    log::error("startup.failed",
               {{"component", "kafka"}, {"brokers", cfg.kafka.brokers}, {"error", e.what()}});
    return 1;
  }

  asio::io_context io(1);
  auto work = asio::make_work_guard(io);
  smtp::client smtp(io.get_executor(), cfg.smtp);
  if (cfg.delivery.probe_smtp_at_start) {
    smtp::outcome probe;
    asio::co_spawn(io, smtp.probe(), [&](std::exception_ptr, smtp::outcome o) {
      probe = std::move(o);
      io.stop();
    });
    io.run();
    io.restart();
    if (probe.kind != smtp::outcome_kind::sent) {
      log::error("startup.failed",
                 {{"component", "smtp"},
                  {"relay", cfg.smtp.host + ":" + std::to_string(cfg.smtp.port)},
                  {"error", probe.error.empty() ? probe.last.text() : probe.error}});
      return 1;
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
  for (const auto& t : cfg.delivery.retry_tiers)
    wcfg.retry_tiers.push_back({t.topic, t.delay});
  kafka::key_finder status_finder(cfg.kafka.brokers, cfg.kafka.status_topic);
  worker::worker w(
      io.get_executor(), wcfg, producer, db, smtp,
      [&consumer](const kafka::message& m) { consumer.done(m); }, &status_finder);

  db.start();
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
  asio::co_spawn(io, heartbeat(w, consumer, db, stopping), asio::detached);

  sd_notify(0, "READY=1");
  log::info("daemon.ready", {{"requests_topic", cfg.kafka.requests_topic},
                             {"group_id", cfg.kafka.group_id},
                             {"relay", cfg.smtp.host + ":" + std::to_string(cfg.smtp.port)}});
  io.run();

  consumer.close(); // commits the stored offsets
  producer.flush(std::chrono::seconds(10));
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
  if (check) {
    std::cout << config::describe(cfg).dump(2) << "\n";
    return 0;
  }
  log::setup(cfg.log_level);
  try {
    return run(cfg);
  } catch (const std::exception& e) {
    log::error("daemon.fatal", {{"error", e.what()}});
    return 1;
  }
}
