// The SMTP client's extensions against Python aiosmtpd (peer_tls_auth.py): PIPELINING with
// partial recipient refusal, SIZE, 8BITMIME, SMTPUTF8, enhanced status codes, XOAUTH2, and
// what the server receives after normalisation.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

#include "aiosmtpd_peer.hpp"
#include "smtp/client.hpp"
#include "support.hpp"

using namespace iaposte::smtp;
using namespace std::chrono_literals;
namespace test = iaposte::smtp::test;
using peer = test::aiosmtpd_peer;

namespace {

relay_config plain(std::uint16_t port) {
  relay_config c;
  c.host = "127.0.0.1";
  c.port = port;
  c.helo_name = "client.test";
  c.connect_timeout = 3s;
  c.command_timeout = 3s;
  c.data_timeout = 3s;
  return c;
}

const std::string message = "From: sender@example.com\r\nTo: x@example.net\r\nSubject: hi\r\n\r\n"
                            "Hello.\r\n.leading dot\r\n";

} // namespace

TEST_CASE("aiosmtpd with PIPELINING: one recipient of three refused with 550 5.1.1; the message "
          "goes to the two others and the refusal is reported for that recipient") {
  peer p({"--pipelining", "--refuse-rcpt", "nobody:550 5.1.1 <nobody@example.net>: no such user"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), plain(p.port()));
  envelope env{"sender@example.com", {"one@example.net", "nobody@example.net", "two@example.net"}};
  auto o = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\npeer log:\n", p.log());
  CHECK(o.partial());
  CHECK(o.last.enhanced == "2.0.0");
  REQUIRE(o.recipients.size() == 3);
  CHECK(o.recipients[0].kind == outcome_kind::sent);
  CHECK(o.recipients[1].address == "nobody@example.net");
  CHECK(o.recipients[1].kind == outcome_kind::permanent);
  CHECK(o.recipients[1].last.code == 550);
  CHECK(o.recipients[1].last.enhanced == "5.1.1");
  CHECK(o.recipients[2].kind == outcome_kind::sent);
  auto got = p.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0].has(R"("rcpt_tos": ["one@example.net", "two@example.net"])"));
  CHECK(got[0].content == message);
}

TEST_CASE("aiosmtpd with PIPELINING: every recipient refused, one with 4xx: no body, transient, "
          "each recipient with its own reply, the connection kept") {
  peer p({"--pipelining", "--refuse-rcpt", "gone:550 5.1.1 gone", "--refuse-rcpt",
          "full:452 4.2.2 mailbox full"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), plain(p.port()));
  envelope env{"sender@example.com", {"gone@example.net", "full@example.net"}};
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.last.code == 452);
  CHECK(o.last.enhanced == "4.2.2");
  REQUIRE(o.recipients.size() == 2);
  CHECK(o.recipients[0].kind == outcome_kind::permanent);
  CHECK(o.recipients[1].kind == outcome_kind::transient);
  CHECK(p.messages().empty());
  CHECK(c.connections_open() == 1);
  // The connection is still in step: the next message on it goes through.
  auto next = test::run(ioc, c.send(envelope{"sender@example.com", {"ok@example.net"}}, message));
  CHECK_MESSAGE(next.kind == outcome_kind::sent, next.error);
  CHECK(c.connections_opened() == 1);
  CHECK(p.messages().size() == 1);
}

TEST_CASE("aiosmtpd with PIPELINING: many messages on one connection, RSET pipelined first") {
  peer p({"--pipelining"});
  boost::asio::io_context ioc;
  auto cfg = plain(p.port());
  cfg.max_connections = 1;
  client c(ioc.get_executor(), cfg);
  envelope env{"sender@example.com", {"one@example.net"}};
  for (int i = 0; i < 5; ++i) {
    auto o = test::run(ioc, c.send(env, message));
    CHECK_MESSAGE(o.kind == outcome_kind::sent, o.error);
  }
  CHECK(c.connections_opened() == 1);
  CHECK(p.messages().size() == 5);
}

TEST_CASE("SIZE: the message size is announced in MAIL FROM") {
  peer p({"--size", "100000"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), plain(p.port()));
  auto o = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error);
  auto got = p.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0].has("\"SIZE=" + std::to_string(message.size()) + "\""));
}

TEST_CASE("SIZE: a message over the server's limit is refused before MAIL, as permanent") {
  peer p({"--size", "1000"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), plain(p.port()));
  std::string big = message;
  for (int i = 0; i < 20; ++i)
    big += std::string(98, 'a') + "\r\n";
  auto o = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, big));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.last.code == 0); // decided here, not by the server
  CHECK(o.error == "message too large for the server: " + std::to_string(big.size()) +
                       " bytes, SIZE limit 1000");
  REQUIRE(o.recipients.size() == 1);
  CHECK(o.recipients[0].kind == outcome_kind::permanent);
  CHECK(p.messages().empty());
  CHECK(c.connections_open() == 1); // nothing was sent: the connection stays good
  // A message under the limit still goes on the same connection.
  auto small = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, message));
  CHECK_MESSAGE(small.kind == outcome_kind::sent, small.error);
  CHECK(c.connections_opened() == 1);
}

TEST_CASE("8BITMIME: 8-bit content is sent with BODY=8BITMIME, byte-exact; 7-bit without it") {
  peer p({});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), plain(p.port()));
  const std::string eight =
      "Subject: x\r\nContent-Transfer-Encoding: 8bit\r\n\r\nH\xc3\xa9l\xc3\xa8ne\r\n";
  auto o = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, eight));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\n", p.log());
  auto o7 = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, message));
  REQUIRE_MESSAGE(o7.kind == outcome_kind::sent, o7.error);
  auto got = p.messages();
  REQUIRE(got.size() == 2);
  CHECK(got[0].content == eight);
  CHECK(got[0].has("\"BODY=8BITMIME\""));
  CHECK_FALSE(got[1].has("BODY="));
}

TEST_CASE("8BITMIME: 8-bit content to a server without 8BITMIME is refused, as permanent") {
  peer p({"--no-8bitmime"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), plain(p.port()));
  auto o = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}},
                                 "Subject: x\r\n\r\n\xe9t\xe9\r\n"));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.error == "message has 8-bit content but the server does not offer 8BITMIME");
  CHECK(p.messages().empty());
  auto o7 = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, message));
  CHECK_MESSAGE(o7.kind == outcome_kind::sent, o7.error);
}

TEST_CASE("SMTPUTF8: an internationalised address goes with the SMTPUTF8 parameter") {
  peer p({"--smtputf8"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), plain(p.port()));
  envelope env{"sender@example.com", {"h\xc3\xa9l\xc3\xa8ne@exemple.fr"}};
  auto o = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\n", p.log());
  auto got = p.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0].has("\"SMTPUTF8\""));
  CHECK(got[0].has("\"smtputf8\": true"));
  CHECK(got[0].has("\"rcpt_tos\": [\"h\xc3\xa9l\xc3\xa8ne@exemple.fr\"]"));
}

TEST_CASE("SMTPUTF8: an internationalised address to a server without it is permanent, before "
          "MAIL") {
  peer p({});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), plain(p.port()));
  envelope env{"exp\xc3\xa9"
               "diteur@exemple.fr",
               {"x@example.net"}};
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.error == "internationalised address but the server does not offer SMTPUTF8");
  CHECK(p.messages().empty());
}

TEST_CASE("XOAUTH2: chosen when offered and a token is configured; the token is in no error") {
  SUBCASE("a good token") {
    peer p({"--xoauth2", "robot@example.com:ya29.good-token"});
    boost::asio::io_context ioc;
    auto cfg = plain(p.port());
    cfg.user = "robot@example.com";
    cfg.oauth2_token = "ya29.good-token";
    cfg.allow_plaintext_auth = true; // the peer is plaintext; TLS is tested in tls_auth_test
    client c(ioc.get_executor(), cfg);
    auto o = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, message));
    REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\n", p.log());
    auto got = p.messages();
    REQUIRE(got.size() == 1);
    CHECK(got[0].has(R"("auth": "robot@example.com")"));
  }
  SUBCASE("a refused token: 334 challenge answered, then a permanent 535") {
    peer p({"--xoauth2", "robot@example.com:ya29.good-token"});
    boost::asio::io_context ioc;
    auto cfg = plain(p.port());
    cfg.user = "robot@example.com";
    cfg.oauth2_token = "ya29.expired-token";
    cfg.allow_plaintext_auth = true;
    client c(ioc.get_executor(), cfg);
    auto o = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, message));
    CHECK(o.kind == outcome_kind::permanent);
    CHECK(o.last.code == 535);
    CHECK(o.error.rfind("AUTH rejected: 535", 0) == 0);
    CHECK(o.error.find("expired-token") == std::string::npos);
    CHECK(p.messages().empty());
  }
  SUBCASE("a token configured but XOAUTH2 not offered: permanent, no fallback to PLAIN") {
    peer p({"--auth", "robot@example.com:pw"});
    boost::asio::io_context ioc;
    auto cfg = plain(p.port());
    cfg.user = "robot@example.com";
    cfg.password = "pw";
    cfg.oauth2_token = "ya29.good-token";
    cfg.allow_plaintext_auth = true;
    client c(ioc.get_executor(), cfg);
    auto o = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, message));
    CHECK(o.kind == outcome_kind::permanent);
    CHECK(o.error == "AUTH: XOAUTH2 configured but not offered by 127.0.0.1");
    CHECK(p.messages().empty());
  }
}

TEST_CASE("content safety: bare CR and LF arrive as CRLF, a leading dot survives, a 3000-octet "
          "line arrives broken with CRLF SP") {
  peer p({"--pipelining"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), plain(p.port()));
  std::string long_line(3000, 'z');
  std::string m = "Subject: x\n\nbare lf\nbare cr\r.\n..two\r\n" + long_line + "\r\nend";
  auto o = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, m));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error);
  auto got = p.messages();
  REQUIRE(got.size() == 1);
  std::string broken = std::string(998, 'z') + "\r\n " + std::string(997, 'z') + "\r\n " +
                       std::string(997, 'z') + "\r\n " + std::string(8, 'z');
  CHECK(got[0].content ==
        "Subject: x\r\n\r\nbare lf\r\nbare cr\r\n.\r\n..two\r\n" + broken + "\r\nend\r\n");
}
