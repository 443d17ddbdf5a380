// Drives smtp::client alone: N composed messages of a given size, C sends in flight, to
// host:port; prints one JSON line with msg/s. Used by scripts/bench next to smtp-source.
//
//   smtp_bench --host 127.0.0.1 --port 2525 -n 100000 --size 1024 -c 20 [--connections K]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "smtp/client.hpp"

namespace asio = boost::asio;
using namespace iaposte;

namespace {

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 25;
  std::size_t n = 10000, size = 1024, concurrency = 20, connections = 0;
  std::size_t per_connection = 1000000;
};

// A message as lib/mime composes it: CRLF lines under 78 octets, 7-bit, `size` body octets
// (smtp-source -l counts the body the same way).
std::string compose(std::size_t i, std::size_t size) {
  std::string m;
  m.reserve(size + 400);
  m += "From: Bench <bench@iaposte.test>\r\nTo: <sink@exemple.fr>\r\n";
  m += "Subject: bench message " + std::to_string(i) + "\r\n";
  m += "Message-ID: <" + std::to_string(i) + ".bench@iaposte.test>\r\n";
  m += "Date: Wed, 25 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n";
  static const std::string line =
      "Bonjour, voici votre releve mensuel. Lorem ipsum dolor sit amet, consectet\r\n";
  std::size_t body = 0;
  while (body + line.size() <= size) {
    m += line;
    body += line.size();
  }
  if (body < size) {
    m.append(size - body > 2 ? size - body - 2 : 0, 'x');
    m += "\r\n";
  }
  return m;
}

struct state {
  smtp::client* client = nullptr;
  const std::vector<std::string>* messages = nullptr;
  const smtp::envelope* env = nullptr;
  std::size_t next = 0, total = 0, sent = 0, failed = 0, running = 0;
  std::string first_error;
};

// One of C senders: takes the next message number until all are taken. Takes the state by
// pointer (GCC 12: no closure owning strings passed by value into a coroutine).
asio::awaitable<void> sender(state* s) {
  while (s->next < s->total) {
    std::size_t i = s->next++;
    const std::string& m = (*s->messages)[i % s->messages->size()];
    smtp::outcome o = co_await s->client->send(*s->env, m);
    if (o.kind == smtp::outcome_kind::sent) {
      ++s->sent;
    } else {
      if (s->failed++ == 0) s->first_error = o.error;
    }
  }
  --s->running;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--host")
      o.host = v;
    else if (k == "--port")
      o.port = static_cast<std::uint16_t>(std::atoi(v));
    else if (k == "-n")
      o.n = std::strtoull(v, nullptr, 10);
    else if (k == "--size")
      o.size = std::strtoull(v, nullptr, 10);
    else if (k == "-c")
      o.concurrency = std::strtoull(v, nullptr, 10);
    else if (k == "--connections")
      o.connections = std::strtoull(v, nullptr, 10);
    else if (k == "--per-connection")
      o.per_connection = std::strtoull(v, nullptr, 10);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.connections == 0) o.connections = o.concurrency;

  smtp::relay_config cfg;
  cfg.host = o.host;
  cfg.port = o.port;
  cfg.helo_name = "bench.iaposte.test";
  cfg.max_connections = o.connections;
  cfg.max_messages_per_connection = o.per_connection;

  std::vector<std::string> messages;
  for (std::size_t i = 0; i < 64; ++i)
    messages.push_back(compose(i, o.size));
  const smtp::envelope env{"bench@iaposte.test", {"sink@exemple.fr"}};

  asio::io_context ioc(1);
  smtp::client client(ioc.get_executor(), cfg);
  state s;
  s.client = &client;
  s.messages = &messages;
  s.env = &env;

  // Warm-up: open the connections, outside the measure.
  s.total = std::min<std::size_t>(o.connections * 2, o.n);
  s.running = o.concurrency;
  for (std::size_t i = 0; i < o.concurrency; ++i)
    asio::co_spawn(ioc, sender(&s), asio::detached);
  while (s.running > 0)
    ioc.run_one();

  s.next = s.sent = s.failed = 0;
  s.total = o.n;
  s.running = o.concurrency;
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < o.concurrency; ++i)
    asio::co_spawn(ioc, sender(&s), asio::detached);
  while (s.running > 0)
    ioc.run_one();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  client.close_idle();
  ioc.restart();
  ioc.run_for(std::chrono::seconds(2)); // the QUITs

  std::printf("{\"messages\": %zu, \"size\": %zu, \"concurrency\": %zu, \"connections\": %zu, "
              "\"seconds\": %.3f, \"sent\": %zu, \"failed\": %zu, \"msgs_per_s\": %.0f%s%s%s}\n",
              o.n, o.size, o.concurrency, o.connections, secs, s.sent, s.failed,
              s.sent / (secs > 0 ? secs : 1), s.failed ? ", \"first_error\": \"" : "",
              s.failed ? s.first_error.c_str() : "", s.failed ? "\"" : "");
  return s.failed == 0 ? 0 : 1;
}
