// librdkafka configuration and client event logging, shared by lib/kafka's clients.
#include "kafka/detail.hpp"

#include <stdexcept>

#include "log/log.hpp"

namespace iaposte::kafka::detail {

std::unique_ptr<RdKafka::Conf> make_conf(const std::string& brokers, const properties& extra) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  auto set = [&](const std::string& k, const std::string& v) {
    std::string err;
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK)
      throw std::runtime_error("kafka config " + k + ": " + err);
  };
  set("bootstrap.servers", brokers);
  set("client.id", "iaposted");
  set("socket.keepalive.enable", "true");
  for (const auto& [k, v] : extra)
    set(k, v);
  return conf;
}

void set_or_throw(RdKafka::Conf& conf, const std::string& k, const std::string& v) {
  std::string err;
  if (conf.set(k, v, err) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error("kafka config " + k + ": " + err);
}

void event_logger::event_cb(RdKafka::Event& e) {
  switch (e.type()) {
  case RdKafka::Event::EVENT_ERROR:
    log::warn("kafka.error", {{"role", role_},
                              {"code", RdKafka::err2str(e.err())},
                              {"detail", e.str()},
                              {"fatal", e.fatal()}});
    break;
  case RdKafka::Event::EVENT_LOG:
    if (e.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING)
      log::warn("kafka.log", {{"role", role_}, {"facility", e.fac()}, {"detail", e.str()}});
    break;
  default:
    break;
  }
}

} // namespace iaposte::kafka::detail
