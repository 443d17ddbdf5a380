// The SMTP client against Python aiosmtpd (peer_tls_auth.py): STARTTLS, implicit TLS,
// certificate checks, AUTH PLAIN and LOGIN, byte-exact delivery.
#include <doctest/doctest.h>

#include <regex>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "aiosmtpd_peer.hpp"
#include "smtp/client.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_tls_auth_test {

using namespace iaposte::smtp;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace test = iaposte::smtp::test;
using test::captured;
using peer = test::aiosmtpd_peer;

namespace {

// A throw-away PKI made with the openssl command once per test run: a trusted CA, a server
// certificate for localhost and 127.0.0.1, one for mail.example only, and an unrelated CA.
struct pki {
  test::temp_dir dir;
  fs::path ca = dir / "ca.pem", other_ca = dir / "other-ca.pem";
  fs::path cert = dir / "server.pem", key = dir / "server.key";
  fs::path wrong_cert = dir / "wrong.pem", wrong_key = dir / "wrong.key";

  pki() {
    make_ca("ca", "iaposte test CA");
    make_ca("other-ca", "some other CA");
    make_leaf("server", "localhost", "DNS:localhost,IP:127.0.0.1");
    make_leaf("wrong", "mail.example", "DNS:mail.example");
  }

private:
  void openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    int rc = test::run_command(args, dir / "openssl.log");
    if (rc != 0)
      throw std::runtime_error("openssl failed: " + test::read_file(dir / "openssl.log"));
  }
  void make_ca(const std::string& name, const std::string& cn) {
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", (dir / (name + ".key")).string(), "-out", (dir / (name + ".pem")).string(),
             "-days", "2", "-subj", "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  }
  void make_leaf(const std::string& name, const std::string& cn, const std::string& san) {
    openssl({"req",
             "-x509",
             "-newkey",
             "ec",
             "-pkeyopt",
             "ec_paramgen_curve:prime256v1",
             "-nodes",
             "-keyout",
             (dir / (name + ".key")).string(),
             "-out",
             (dir / (name + ".pem")).string(),
             "-days",
             "2",
             "-subj",
             "/CN=" + cn,
             "-CA",
             ca.string(),
             "-CAkey",
             (dir / "ca.key").string(),
             "-addext",
             "subjectAltName=" + san,
             "-addext",
             "basicConstraints=CA:FALSE",
             "-addext",
             "extendedKeyUsage=serverAuth"});
  }
};

const pki& certs() {
  static pki p;
  return p;
}

relay_config config_for(std::uint16_t port, tls_mode mode) {
  relay_config c;
  c.host = "127.0.0.1";
  c.port = port;
  c.helo_name = "client.test";
  c.tls = mode;
  c.ca_file = certs().ca.string();
  c.connect_timeout = 3s;
  c.command_timeout = 3s;
  c.data_timeout = 3s;
  return c;
}

std::vector<std::string> starttls_flags(const fs::path& cert, const fs::path& key) {
  return {"--starttls", cert.string(), key.string()};
}

const envelope env{"sender@example.com", {"one@example.net", "two@example.net"}};

// CRLF throughout, with lines that need dot-stuffing, so what arrives must equal it exactly.
const std::string message = "From: sender@example.com\r\n"
                            "To: one@example.net, two@example.net\r\n"
                            "Subject: =?UTF-8?Q?R=C3=A9sum=C3=A9?=\r\n"
                            "\r\n"
                            ".\r\n"
                            "..two dots\r\n"
                            ". a dot and a space\r\n"
                            "last line\r\n";

} // namespace

TEST_CASE("aiosmtpd: STARTTLS required with AUTH PLAIN delivers the message byte-exact over TLS") {
  auto flags = starttls_flags(certs().cert, certs().key);
  flags.insert(flags.end(), {"--require-starttls", "--auth", "user:pa:ss", "--auth-require-tls"});
  peer p(flags);
  boost::asio::io_context ioc;
  auto cfg = config_for(p.port(), tls_mode::required);
  cfg.user = "user";
  cfg.password = "pa:ss";
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\npeer log:\n", p.log());
  CHECK(o.last.code == 250);
  CHECK(o.last.text() == "2.0.0 Ok: queued as 0001");
  auto got = p.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0].content == message);
  CHECK(got[0].has(R"("tls": true)"));
  CHECK(got[0].has(R"("auth": "user")"));
  CHECK(got[0].has(R"("rcpt_tos": ["one@example.net", "two@example.net"])"));
  CHECK(got[0].has(R"("sni": null)")); // no SNI for an address literal (RFC 6066 §3)
}

TEST_CASE("aiosmtpd: AUTH LOGIN is used when PLAIN is not offered") {
  auto flags = starttls_flags(certs().cert, certs().key);
  flags.insert(flags.end(), {"--auth", "user:secret", "--auth-exclude", "PLAIN"});
  peer p(flags);
  boost::asio::io_context ioc;
  auto cfg = config_for(p.port(), tls_mode::required);
  cfg.user = "user";
  cfg.password = "secret";
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\npeer log:\n", p.log());
  auto got = p.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0].has(R"("auth": "user")"));
}

TEST_CASE("aiosmtpd: a wrong password is a permanent 535 and the password is in no error") {
  auto flags = starttls_flags(certs().cert, certs().key);
  flags.insert(flags.end(), {"--auth", "user:right", "--auth-require-tls"});
  peer p(flags);
  boost::asio::io_context ioc;
  auto cfg = config_for(p.port(), tls_mode::required);
  cfg.user = "user";
  cfg.password = "wrong-password";
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.last.code == 535);
  CHECK(o.error.rfind("AUTH rejected: 535", 0) == 0);
  CHECK(o.error.find("wrong-password") == std::string::npos);
  CHECK(p.messages().empty());
  CHECK(c.connections_open() == 0);
}

TEST_CASE("aiosmtpd: a certificate from an unknown CA fails STARTTLS required, as transient") {
  peer p(starttls_flags(certs().cert, certs().key));
  boost::asio::io_context ioc;
  auto cfg = config_for(p.port(), tls_mode::required);
  cfg.ca_file = certs().other_ca.string();
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK_MESSAGE(o.error.rfind("TLS handshake: certificate verify failed", 0) == 0, o.error);
  CHECK_MESSAGE(o.error.find("unable to get local issuer certificate") != std::string::npos,
                o.error);
  CHECK(p.messages().empty());
}

TEST_CASE("aiosmtpd: a certificate for another host name fails verification") {
  peer p(starttls_flags(certs().wrong_cert, certs().wrong_key));
  boost::asio::io_context ioc;
  auto cfg = config_for(p.port(), tls_mode::required);
  cfg.host = "localhost";
  SUBCASE("verify_peer: refused") {
    client c(ioc.get_executor(), cfg);
    auto o = test::run(ioc, c.send(env, message));
    CHECK(o.kind == outcome_kind::transient);
    CHECK_MESSAGE(o.error.find("hostname mismatch") != std::string::npos, o.error);
    CHECK(p.messages().empty());
  }
  SUBCASE("verify_peer false: encrypted without checking") {
    cfg.verify_peer = false;
    client c(ioc.get_executor(), cfg);
    auto o = test::run(ioc, c.send(env, message));
    CHECK_MESSAGE(o.kind == outcome_kind::sent, o.error);
  }
}

TEST_CASE("aiosmtpd: a host name is verified and sent as SNI") {
  peer p(starttls_flags(certs().cert, certs().key));
  boost::asio::io_context ioc;
  auto cfg = config_for(p.port(), tls_mode::required);
  cfg.host = "localhost";
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error);
  auto got = p.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0].has(R"("sni": "localhost")"));
}

TEST_CASE("aiosmtpd: opportunistic TLS against a server without STARTTLS sends in plaintext") {
  peer p({});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config_for(p.port(), tls_mode::opportunistic));
  auto o = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error);
  auto got = p.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0].has(R"("tls": false)"));
  CHECK(got[0].content == message);
}

TEST_CASE("aiosmtpd: opportunistic TLS encrypts without authenticating the certificate") {
  peer p(starttls_flags(certs().cert, certs().key));
  boost::asio::io_context ioc;
  auto cfg = config_for(p.port(), tls_mode::opportunistic);
  cfg.ca_file = certs().other_ca.string(); // would fail verification; RFC 7435 does not verify
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error);
  auto got = p.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0].has(R"("tls": true)"));
}

TEST_CASE("aiosmtpd: STARTTLS required against a server without it is permanent") {
  peer p({});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config_for(p.port(), tls_mode::required));
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.error.rfind("STARTTLS required but not offered", 0) == 0);
  CHECK(p.messages().empty());
}

TEST_CASE("aiosmtpd: implicit TLS (port 465 style) with AUTH delivers the message") {
  peer p({"--implicit-tls", certs().cert.string(), certs().key.string(), "--auth", "user:pw"});
  boost::asio::io_context ioc;
  auto cfg = config_for(p.port(), tls_mode::implicit);
  cfg.user = "user";
  cfg.password = "pw";
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\npeer log:\n", p.log());
  auto got = p.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0].content == message);
  CHECK(got[0].has(R"("tls": true)"));
  CHECK(got[0].has(R"("auth": "user")"));
}

TEST_CASE("aiosmtpd: implicit TLS against a plaintext server fails the handshake, as transient") {
  peer p({});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config_for(p.port(), tls_mode::implicit));
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK_MESSAGE(o.error.rfind("TLS handshake", 0) == 0, o.error);
}

TEST_CASE("aiosmtpd: a STARTTLS connection is reused for the next messages, after RSET") {
  peer p(starttls_flags(certs().cert, certs().key));
  boost::asio::io_context ioc;
  auto cfg = config_for(p.port(), tls_mode::required);
  cfg.max_connections = 1;
  client c(ioc.get_executor(), cfg);
  for (int i = 0; i < 3; ++i) {
    auto o = test::run(ioc, c.send(env, message));
    REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error);
  }
  CHECK(c.connections_opened() == 1);
  auto got = p.messages();
  REQUIRE(got.size() == 3);
  for (const auto& m : got)
    CHECK(m.content == message);
}

TEST_CASE("aiosmtpd: probe goes through STARTTLS and AUTH, so a bad password shows at start-up") {
  auto flags = starttls_flags(certs().cert, certs().key);
  flags.insert(flags.end(), {"--auth", "user:right"});
  peer p(flags);
  boost::asio::io_context ioc;
  auto cfg = config_for(p.port(), tls_mode::required);
  cfg.user = "user";
  SUBCASE("right password") {
    cfg.password = "right";
    client c(ioc.get_executor(), cfg);
    auto o = test::run(ioc, c.probe());
    CHECK_MESSAGE(o.kind == outcome_kind::sent, o.error);
  }
  SUBCASE("wrong password") {
    cfg.password = "nope";
    client c(ioc.get_executor(), cfg);
    auto o = test::run(ioc, c.probe());
    CHECK(o.kind == outcome_kind::permanent);
    CHECK(o.last.code == 535);
  }
}

TEST_CASE("an unreadable CA file defers every message with a clear error, never bounces") {
  boost::asio::io_context ioc;
  auto cfg = config_for(test::free_port(), tls_mode::required);
  cfg.ca_file = "/nonexistent/ca.pem";
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK_MESSAGE(o.error.rfind("TLS: cannot load CA file /nonexistent/ca.pem", 0) == 0, o.error);
  CHECK(c.connections_opened() == 0);
}

TEST_CASE("hostile STARTTLS: bytes sent after the 220 to STARTTLS are discarded, never read as a "
          "reply over TLS (CVE-2011-0411)") {
  namespace asio = boost::asio;
  using asio::awaitable;
  using asio::ip::tcp;
  asio::io_context ioc;
  asio::ssl::context server_ctx(asio::ssl::context::tls_server);
  server_ctx.use_certificate_chain_file(certs().cert.string());
  server_ctx.use_private_key_file(certs().key.string(), asio::ssl::context::pem);
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::vector<std::string> over_tls; // the commands the server read after the handshake

  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        auto [aec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (aec) co_return;
        std::string in;
        auto line = [&in](auto& stream) -> awaitable<std::string> {
          auto [ec, n] = co_await asio::async_read_until(stream, asio::dynamic_buffer(in), "\r\n",
                                                         asio::as_tuple(asio::use_awaitable));
          if (ec) co_return std::string{};
          std::string l = in.substr(0, n - 2);
          in.erase(0, n);
          co_return l;
        };
        auto say = [](auto& stream, std::string s) -> awaitable<void> {
          co_await asio::async_write(stream, asio::buffer(s), asio::as_tuple(asio::use_awaitable));
        };
        co_await say(sock, "220 hostile ESMTP\r\n");
        co_await line(sock); // EHLO
        co_await say(sock, "250-hostile\r\n250 STARTTLS\r\n");
        co_await line(sock); // STARTTLS
        // The injection: a reply written in plaintext before the handshake, in the same
        // segment as the 220. A client that kept it would take it as the answer to its EHLO
        // over TLS and go out of step.
        co_await say(sock, "220 go ahead\r\n250 INJECTED\r\n");
        asio::ssl::stream<tcp::socket&> tls(sock, server_ctx);
        auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::server,
                                                  asio::as_tuple(asio::use_awaitable));
        if (hec) co_return;
        for (;;) {
          std::string c = co_await line(tls);
          if (c.empty()) co_return;
          over_tls.push_back(c);
          if (c.rfind("EHLO", 0) == 0)
            co_await say(tls, "250-hostile\r\n250 8BITMIME\r\n");
          else if (c == "DATA") {
            co_await say(tls, "354 go\r\n");
            while (!(c = co_await line(tls)).empty() && c != ".") {
            }
            co_await say(tls, "250 2.0.0 queued over TLS\r\n");
          } else if (c == "QUIT") {
            co_await say(tls, "221 bye\r\n");
            co_return;
          } else
            co_await say(tls, "250 ok\r\n");
        }
      },
      asio::detached);

  auto cfg = config_for(acceptor.local_endpoint().port(), tls_mode::required);
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send(env, message));
  CHECK_MESSAGE(o.kind == outcome_kind::sent, o.error);
  CHECK(o.last.text() == "2.0.0 queued over TLS");
  REQUIRE(!over_tls.empty());
  CHECK(over_tls.front() == "EHLO client.test");
}

} // namespace test_unit_smtp_tls_auth_test
