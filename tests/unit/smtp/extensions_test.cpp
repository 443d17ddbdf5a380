// The SMTP client's extensions against Python aiosmtpd (peer_tls_auth.py): PIPELINING with
// partial recipient refusal, SIZE, 8BITMIME, SMTPUTF8 and internationalised addresses (U-labels
// or A-labels, 5.6.7 refusals), enhanced status codes, XOAUTH2, and what the server receives
// after normalisation.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

#include "aiosmtpd_peer.hpp"
#include "smtp/client.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_extensions_test {

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

TEST_CASE("SMTPUTF8 offered: addresses go as given, U-labels and UTF-8 local parts, with the "
          "SMTPUTF8 parameter") {
  for (bool pipelining : {false, true}) {
    CAPTURE(pipelining);
    std::vector<std::string> flags{"--smtputf8"};
    if (pipelining) flags.push_back("--pipelining");
    peer p(flags);
    boost::asio::io_context ioc;
    client c(ioc.get_executor(), plain(p.port()));
    envelope env{"équipe@exemple-été.fr", {"hélène@exemple-été.fr", "bob@exemple-été.fr"}};
    auto o = test::run(ioc, c.send(env, message));
    REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\n", p.log());
    CHECK_FALSE(o.partial());
    auto got = p.messages();
    REQUIRE(got.size() == 1);
    CHECK(got[0].has(R"("mail_from": "équipe@exemple-été.fr")"));
    CHECK(got[0].has(R"("rcpt_tos": ["hélène@exemple-été.fr", "bob@exemple-été.fr"])"));
    CHECK(got[0].has("\"SMTPUTF8\""));
  }
}

TEST_CASE("SMTPUTF8 not offered: domains in A-labels; a UTF-8 local part is refused alone with "
          "5.6.7 and the other recipients get the message") {
  for (bool pipelining : {false, true}) {
    CAPTURE(pipelining);
    peer p(pipelining ? std::vector<std::string>{"--pipelining"} : std::vector<std::string>{});
    boost::asio::io_context ioc;
    client c(ioc.get_executor(), plain(p.port()));
    // RFC 6532 header: the U-labels stay in the message (Postfix does not rewrite them either).
    const std::string intl_message = "From: contact@exemple-été.fr\r\nTo: bob@exemple-été.fr, "
                                     "hélène@exemple.fr, carl@example.net\r\nSubject: x\r\n\r\n"
                                     "Bonjour.\r\n";
    envelope env{"contact@exemple-été.fr",
                 {"bob@exemple-été.fr", "hélène@exemple.fr", "carl@example.net"}};
    auto o = test::run(ioc, c.send(env, intl_message));
    REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\n", p.log());
    CHECK(o.partial());
    REQUIRE(o.recipients.size() == 3);
    CHECK(o.recipients[0].address == "bob@exemple-été.fr"); // reported as the caller wrote it
    CHECK(o.recipients[0].kind == outcome_kind::sent);
    CHECK(o.recipients[1].address == "hélène@exemple.fr");
    CHECK(o.recipients[1].kind == outcome_kind::permanent);
    CHECK(o.recipients[1].last.code == 0); // decided here: the server never saw it
    CHECK(o.recipients[1].last.enhanced == "5.6.7");
    CHECK(o.recipients[1].last.text() ==
          "non-ASCII local part, and the server does not offer SMTPUTF8");
    CHECK(o.recipients[2].address == "carl@example.net");
    CHECK(o.recipients[2].kind == outcome_kind::sent);
    auto got = p.messages();
    REQUIRE(got.size() == 1);
    CHECK(got[0].has(R"("mail_from": "contact@xn--exemple-t-i4ab.fr")"));
    CHECK(got[0].has(R"("rcpt_tos": ["bob@xn--exemple-t-i4ab.fr", "carl@example.net"])"));
    CHECK_FALSE(got[0].has("SMTPUTF8"));
    CHECK(got[0].has("\"BODY=8BITMIME\""));
    CHECK(got[0].content == intl_message);
  }
}

TEST_CASE("SMTPUTF8 not offered: a sender with a UTF-8 local part fails the whole message, "
          "permanent 5.6.7, before MAIL") {
  peer p({});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), plain(p.port()));
  envelope env{"exp\xc3\xa9"
               "diteur@exemple.fr",
               {"x@example.net", "y@exemple-été.fr"}};
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.last.code == 0);
  CHECK(o.last.enhanced == "5.6.7");
  CHECK(o.error == "sender expéditeur@exemple.fr has a non-ASCII local part and the server does "
                   "not offer SMTPUTF8 (RFC 6531): no ASCII form exists");
  REQUIRE(o.recipients.size() == 2);
  for (const auto& r : o.recipients) {
    CHECK(r.kind == outcome_kind::permanent);
    CHECK(r.last.enhanced == "5.6.7");
  }
  CHECK(p.messages().empty());
  // Nothing was sent: the connection is still good for the next message.
  auto next = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, message));
  CHECK_MESSAGE(next.kind == outcome_kind::sent, next.error);
  CHECK(c.connections_opened() == 1);
}

TEST_CASE("SMTPUTF8 not offered: when every recipient has a UTF-8 local part, nothing is sent "
          "and the message is permanent 5.6.7") {
  peer p({"--pipelining"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), plain(p.port()));
  envelope env{"sender@example.com", {"hélène@exemple.fr", "用户@例子.广告"}};
  auto o = test::run(ioc, c.send(env, message));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.last.enhanced == "5.6.7");
  CHECK(o.error == "no recipient can be written for this server: hélène@exemple.fr has a "
                   "non-ASCII local part and the server does not offer SMTPUTF8");
  REQUIRE(o.recipients.size() == 2);
  CHECK(o.recipients[0].address == "hélène@exemple.fr");
  CHECK(o.recipients[1].address == "用户@例子.广告");
  CHECK(o.recipients[1].kind == outcome_kind::permanent);
  CHECK(o.recipients[1].last.enhanced == "5.6.7");
  CHECK(p.messages().empty());
  auto next = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, message));
  CHECK_MESSAGE(next.kind == outcome_kind::sent, next.error);
  CHECK(c.connections_opened() == 1);
}

TEST_CASE("SMTPUTF8 offered: an ASCII envelope with UTF-8 in the header still asks for it") {
  peer p({"--smtputf8"});
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), plain(p.port()));
  const std::string utf8_header = "To: hélène@exemple.fr\r\nSubject: x\r\n\r\nBonjour.\r\n";
  auto o = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}}, utf8_header));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\n", p.log());
  // And an 8-bit body alone does not.
  auto body8 = test::run(ioc, c.send(envelope{"sender@example.com", {"x@example.net"}},
                                     "Subject: x\r\n\r\nh\xc3\xa9\r\n"));
  REQUIRE_MESSAGE(body8.kind == outcome_kind::sent, body8.error);
  auto got = p.messages();
  REQUIRE(got.size() == 2);
  CHECK(got[0].has("\"SMTPUTF8\""));
  CHECK(got[0].content == utf8_header);
  CHECK_FALSE(got[1].has("SMTPUTF8"));
  CHECK(got[1].has("\"BODY=8BITMIME\""));
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

} // namespace test_unit_smtp_extensions_test
