// The SMTP client against a real Postfix smtpd (Debian's postfix 3.7, a throw-away instance
// made by tests/peers/postfix_instance.sh): STARTTLS required and implicit TLS, Cyrus SASL
// AUTH, delivery to a maildir read back byte for byte, certificate failures, Postfix's 530,
// 535, 550 and 552, connection reuse with RSET; DKIM signatures that survive the relay (dkimpy).
#include <doctest/doctest.h>

#include <algorithm>
#include <thread>

#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "dkim/dkim.hpp"
#include "dkimpy.hpp"
#include "mime/compose.hpp"
#include "pki.hpp"
#include "smtp/client.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_postfix_postfix_test {

using namespace iaposte::smtp;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace test = iaposte::smtp::test;

namespace {

constexpr const char* master_bin = "/usr/lib/postfix/sbin/master";

// Why the Postfix tests cannot run here, or empty. Postfix's master must start as root (it
// binds, then drops privileges to mail_owner); CI runs as root.
std::string unavailable() {
  if (::geteuid() != 0) return "not root: Postfix's master(8) must start as root";
  if (!fs::exists(master_bin))
    return std::string(master_bin) + " missing (apt-get install postfix)";
  if (!fs::exists("/usr/sbin/saslpasswd2"))
    return "saslpasswd2 missing (apt-get install sasl2-bin)";
  return {};
}

#define SKIP_WITHOUT_POSTFIX()                                                                     \
  do {                                                                                             \
    if (auto why = unavailable(); !why.empty()) {                                                  \
      MESSAGE("skipped: " << why);                                                                 \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

// The CA the client trusts, another one it does not, and the server's certificate: for
// 127.0.0.1 only (an IP SAN), so that connecting as "localhost" is a host name mismatch.
struct certificates {
  test::pki p;
  fs::path ca, other_ca, cert, key;
  certificates() {
    ca = p.make_ca("ca", "iaposte test CA");
    other_ca = p.make_ca("other-ca", "some other CA");
    cert = p.make_leaf("server", "mx.test", "IP:127.0.0.1", "ca");
    key = p.key("server");
  }
};

const certificates& certs() {
  static certificates c;
  return c;
}

const std::string user = "relay-user";
const std::string password = "pa:ss w0rd";

// One Postfix instance (master and the daemons it starts) on a free port, stopped with SIGTERM
// to master and removed with its directory.
class postfix {
public:
  postfix() : port_(test::free_port()), smtps_port_(test::free_port()) {
    proc_.emplace(
        std::vector<std::string>{"/bin/bash", fs::path(IAPOSTE_PEERS_DIR) / "postfix_instance.sh",
                                 "--dir", dir_.path().string(), "--port", std::to_string(port_),
                                 "--smtps-port", std::to_string(smtps_port_), "--cert",
                                 certs().cert.string(), "--key", certs().key.string(), "--user",
                                 user, "--password", password, "--message-size-limit",
                                 std::to_string(size_limit)},
        dir_ / "instance.log");
    proc_->wait_for_port(port_, 30s);
    proc_->wait_for_port(smtps_port_, 5s);
  }
  static constexpr std::size_t size_limit = 200000;
  std::uint16_t port() const { return port_; }
  std::uint16_t smtps_port() const { return smtps_port_; }

  // Messages delivered to LOCAL@example.net (one maildir for all, told apart by the
  // Delivered-To header Postfix adds).
  std::vector<std::string> mailbox(const std::string& local) const {
    std::vector<std::string> out;
    const std::string mark = "\nDelivered-To: " + local + "@example.net\n";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_ / "mail" / "inbox" / "new", ec)) {
      std::string m = test::read_file(e.path());
      if (m.find(mark) != std::string::npos) out.push_back(std::move(m));
    }
    return out;
  }

  // Waits until LOCAL's maildir holds `n` messages (delivery follows the 250 asynchronously).
  bool wait_for_mail(const std::string& local, std::size_t n,
                     std::chrono::milliseconds limit = 20s) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (mailbox(local).size() >= n) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  std::string maillog() const { return test::read_file(dir_ / "maillog"); }

private:
  test::temp_dir dir_; // declared first: removed after the instance has stopped
  std::uint16_t port_, smtps_port_;
  std::optional<test::child_process> proc_;
};

postfix& server() {
  static postfix p;
  return p;
}

relay_config config(tls_mode mode) {
  relay_config c;
  c.host = "127.0.0.1";
  c.port = server().port();
  c.helo_name = "client.test";
  c.tls = mode;
  c.ca_file = certs().ca.string();
  c.user = user;
  c.password = password;
  c.connect_timeout = 10s;
  c.command_timeout = 10s;
  c.data_timeout = 10s;
  return c;
}

// What a maildir file holds of the message: Postfix stores lines with LF (local delivery
// converts CRLF) and removes the dot-stuffing.
std::string as_stored(std::string crlf) {
  std::string out;
  for (std::size_t i = 0; i < crlf.size(); ++i)
    if (!(crlf[i] == '\r' && i + 1 < crlf.size() && crlf[i + 1] == '\n')) out += crlf[i];
  return out;
}

// Lines that need dot-stuffing, an 8-bit body, a long line: what arrives must equal it.
std::string message_for(const std::string& id) {
  return "From: sender@example.com\r\n"
         "To: inbox@example.net\r\n"
         "Subject: interop " +
         id +
         "\r\n"
         "Message-ID: <" +
         id +
         "@client.test>\r\n"
         "MIME-Version: 1.0\r\n"
         "Content-Type: text/plain; charset=utf-8\r\n"
         "Content-Transfer-Encoding: 8bit\r\n"
         "\r\n"
         ".\r\n"
         "..two dots\r\n"
         ". a dot and a space\r\n"
         "Bonjour, voici le récapitulatif.\r\n" +
         std::string(900, 'x') + "\r\nlast line\r\n";
}

// The file Postfix wrote is its trace headers, then the message exactly.
void check_delivered(const std::string& stored, const std::string& rcpt,
                     const std::string& message) {
  const std::string body = as_stored(message);
  REQUIRE_MESSAGE(stored.size() > body.size(), stored);
  CHECK(stored.compare(stored.size() - body.size(), body.size(), body) == 0);
  std::string trace = stored.substr(0, stored.size() - body.size());
  CHECK(trace.rfind("Return-Path: <sender@example.com>\nX-Original-To: " + rcpt +
                        "\nDelivered-To: " + rcpt + "\nReceived: from client.test ",
                    0) == 0);
  // Received by Postfix over TLS with an authenticated client (RFC 3848).
  CHECK_MESSAGE(trace.find("with ESMTPSA id") != std::string::npos, trace);
  CHECK(trace.find("\n\n") == std::string::npos);
}

} // namespace

TEST_CASE("Postfix smtpd: STARTTLS required, the test CA and AUTH deliver the message "
          "byte-faithful to every recipient's maildir") {
  SKIP_WITHOUT_POSTFIX();
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config(tls_mode::required));
  const std::string message = message_for("first");
  envelope env{"sender@example.com", {"alice@example.net", "bob@example.net"}};
  auto o = test::run(ioc, c.send(env, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\nmaillog:\n", server().maillog());
  CHECK(o.last.code == 250);
  CHECK(o.last.enhanced == "2.0.0");
  CHECK(o.last.text().rfind("2.0.0 Ok: queued as ", 0) == 0);
  for (std::string local : {"alice", "bob"}) {
    REQUIRE_MESSAGE(server().wait_for_mail(local, 1), server().maillog());
    check_delivered(server().mailbox(local).at(0), local + "@example.net", message);
  }
  CHECK(server().maillog().find("sasl_method=PLAIN, sasl_username=" + user + "@mx.test") !=
        std::string::npos);
}

TEST_CASE("Postfix smtpd: implicit TLS (the smtps port, RFC 8314) with AUTH delivers the "
          "message byte-faithful") {
  SKIP_WITHOUT_POSTFIX();
  boost::asio::io_context ioc;
  auto cfg = config(tls_mode::implicit);
  cfg.port = server().smtps_port();
  client c(ioc.get_executor(), cfg);
  const std::string message = message_for("implicit");
  auto o = test::run(ioc, c.send({"sender@example.com", {"ivan@example.net"}}, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\nmaillog:\n", server().maillog());
  REQUIRE_MESSAGE(server().wait_for_mail("ivan", 1), server().maillog());
  check_delivered(server().mailbox("ivan").at(0), "ivan@example.net", message);
}

TEST_CASE("Postfix smtpd: a message over the server's size limit is refused permanently "
          "(552 5.3.4, or before sending when the client checks SIZE) and the connection stays "
          "usable") {
  SKIP_WITHOUT_POSTFIX();
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config(tls_mode::required));
  const std::string big = message_for("too-big") + std::string(postfix::size_limit, 'y') + "\r\n";
  auto o = test::run(ioc, c.send({"sender@example.com", {"judy@example.net"}}, big));
  CHECK_MESSAGE(o.kind == outcome_kind::permanent, o.error);
  if (o.last.code != 0) {
    CHECK(o.last.code == 552);
    CHECK(o.last.enhanced == "5.3.4");
  }
  // The refusal is part of normal life: the next message goes out on the same connection.
  const std::string small = message_for("after-too-big");
  auto next = test::run(ioc, c.send({"sender@example.com", {"judy@example.net"}}, small));
  CHECK_MESSAGE(next.kind == outcome_kind::sent, next.error);
  CHECK(c.connections_opened() == 1);
  REQUIRE_MESSAGE(server().wait_for_mail("judy", 1), server().maillog());
  auto got = server().mailbox("judy");
  REQUIRE(got.size() == 1);
  check_delivered(got[0], "judy@example.net", small);
}

TEST_CASE("Postfix smtpd: the start-up probe does STARTTLS and AUTH and succeeds") {
  SKIP_WITHOUT_POSTFIX();
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config(tls_mode::required));
  auto o = test::run(ioc, c.probe());
  CHECK_MESSAGE(o.kind == outcome_kind::sent, o.error, "\nmaillog:\n", server().maillog());
}

TEST_CASE("Postfix smtpd: several messages on one connection, reused with RSET, all delivered") {
  SKIP_WITHOUT_POSTFIX();
  boost::asio::io_context ioc;
  auto cfg = config(tls_mode::required);
  cfg.max_connections = 1;
  client c(ioc.get_executor(), cfg);
  std::vector<std::string> ids, sent;
  for (int i = 0; i < 5; ++i) {
    ids.push_back("reuse-" + std::to_string(i));
    sent.push_back(message_for(ids.back()));
    auto o = test::run(ioc, c.send({"sender@example.com", {"carol@example.net"}}, sent.back()));
    REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\nmaillog:\n", server().maillog());
  }
  CHECK(c.connections_opened() == 1);
  CHECK(c.connections_open() == 1);
  REQUIRE_MESSAGE(server().wait_for_mail("carol", 5), server().maillog());
  auto got = server().mailbox("carol");
  REQUIRE(got.size() == 5);
  // Maildir order within one second is not the delivery order: match by Message-ID.
  for (std::size_t i = 0; i < sent.size(); ++i) {
    const std::string header = "\nMessage-ID: <" + ids[i] + "@client.test>\n";
    auto it = std::find_if(got.begin(), got.end(), [&](const std::string& s) {
      return s.find(header) != std::string::npos;
    });
    REQUIRE_MESSAGE(it != got.end(), ids[i]);
    check_delivered(*it, "carol@example.net", sent[i]);
  }
  // Postfix counts the commands of each session when it ends: close ours, then look for one
  // session with five transactions and the RSETs between them.
  c.close_idle();
  bool seen = test::run_until(ioc, [&] {
    return server().maillog().find("starttls=1 auth=1 mail=5 rcpt=5 data=5 rset=4") !=
           std::string::npos;
  });
  CHECK_MESSAGE(seen, server().maillog());
}

TEST_CASE("Postfix smtpd: a certificate from a CA the client does not trust fails under "
          "required, as transient, and nothing is sent") {
  SKIP_WITHOUT_POSTFIX();
  boost::asio::io_context ioc;
  auto cfg = config(tls_mode::required);
  cfg.ca_file = certs().other_ca.string();
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send({"sender@example.com", {"dave@example.net"}}, "x\r\n"));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.last.code == 0);
  CHECK_MESSAGE(o.error.rfind("TLS handshake: ", 0) == 0, o.error);
  CHECK_MESSAGE(o.error.find("unable to get local issuer certificate") != std::string::npos,
                o.error);
  CHECK(c.connections_open() == 0);
  CHECK(server().mailbox("dave").empty());
}

TEST_CASE("Postfix smtpd: under opportunistic TLS the same untrusted certificate is used "
          "unverified, and the message is delivered over TLS") {
  SKIP_WITHOUT_POSTFIX();
  boost::asio::io_context ioc;
  auto cfg = config(tls_mode::opportunistic);
  cfg.ca_file = certs().other_ca.string();
  client c(ioc.get_executor(), cfg);
  const std::string message = message_for("opportunistic");
  auto o = test::run(ioc, c.send({"sender@example.com", {"heidi@example.net"}}, message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\nmaillog:\n", server().maillog());
  REQUIRE_MESSAGE(server().wait_for_mail("heidi", 1), server().maillog());
  check_delivered(server().mailbox("heidi").at(0), "heidi@example.net", message);
}

TEST_CASE("Postfix smtpd: a host name the certificate does not name fails under required, as "
          "transient") {
  SKIP_WITHOUT_POSTFIX();
  boost::asio::io_context ioc;
  auto cfg = config(tls_mode::required);
  cfg.host = "localhost"; // the certificate names 127.0.0.1 only
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send({"sender@example.com", {"erin@example.net"}}, "x\r\n"));
  CHECK(o.kind == outcome_kind::transient);
  CHECK_MESSAGE(o.error.rfind("TLS handshake: ", 0) == 0, o.error);
  CHECK_MESSAGE(o.error.find("hostname mismatch") != std::string::npos, o.error);
  CHECK(server().mailbox("erin").empty());
}

TEST_CASE("Postfix smtpd: without STARTTLS Postfix refuses MAIL with 530 5.7.0, a permanent "
          "outcome (the relay's policy, retrying the same way cannot pass)") {
  SKIP_WITHOUT_POSTFIX();
  boost::asio::io_context ioc;
  auto cfg = config(tls_mode::none);
  cfg.user.clear(); // no AUTH before TLS: Postfix does not offer it (smtpd_tls_auth_only)
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send({"sender@example.com", {"frank@example.net"}}, "x\r\n"));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.last.code == 530);
  CHECK(o.last.enhanced == "5.7.0");
  CHECK(o.error == "MAIL rejected: 530 5.7.0 Must issue a STARTTLS command first");
  CHECK(server().mailbox("frank").empty());
}

TEST_CASE("Postfix smtpd: AUTH without TLS is refused locally, before any credential is sent") {
  SKIP_WITHOUT_POSTFIX();
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config(tls_mode::none));
  auto o = test::run(ioc, c.send({"sender@example.com", {"frank@example.net"}}, "x\r\n"));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.last.code == 0);
  CHECK(o.error == "AUTH refused: connection not encrypted");
}

TEST_CASE("Postfix smtpd: a wrong password is refused with 535 5.7.8, permanent") {
  SKIP_WITHOUT_POSTFIX();
  boost::asio::io_context ioc;
  auto cfg = config(tls_mode::required);
  cfg.password = "not the password";
  client c(ioc.get_executor(), cfg);
  auto o = test::run(ioc, c.send({"sender@example.com", {"grace@example.net"}}, "x\r\n"));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.last.code == 535);
  CHECK(o.last.enhanced == "5.7.8");
  CHECK(o.error.find("not the password") == std::string::npos);
  CHECK(server().mailbox("grace").empty());
}

TEST_CASE("Postfix smtpd: an unknown recipient is refused with 550 5.1.1, permanent") {
  SKIP_WITHOUT_POSTFIX();
  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config(tls_mode::required));
  auto o = test::run(ioc, c.send({"sender@example.com", {"No.Such.User@example.net"}}, "x\r\n"));
  CHECK(o.kind == outcome_kind::permanent);
  CHECK(o.last.code == 550);
  CHECK(o.last.enhanced == "5.1.1");
  CHECK_MESSAGE(o.error.find("User unknown in virtual mailbox table") != std::string::npos,
                o.error);
}

TEST_CASE("Postfix smtpd: a message signed with rsa-sha256 and ed25519-sha256, sent by our "
          "client and read back from Postfix's maildir, still verifies with dkimpy") {
  SKIP_WITHOUT_POSTFIX();
  std::vector<iaposte::dkim::signing_key> keys;
  std::map<std::string, std::string> records;
  for (auto a : {iaposte::dkim::algorithm::rsa_sha256, iaposte::dkim::algorithm::ed25519_sha256}) {
    const std::string selector = a == iaposte::dkim::algorithm::rsa_sha256 ? "rsa" : "ed";
    const auto g = iaposte::dkim::keygen(a, selector, "example.com");
    keys.push_back(
        iaposte::dkim::signing_key::from_pem({"example.com", selector, a, ""}, g.private_key_pem));
    records[g.record.name] = g.record.value;
  }
  // What the content stage sends: mime::compose's message (text and HTML, a line that needs
  // dot-stuffing), signed at the present time (dkimpy refuses a t= in the future).
  iaposte::core::request r;
  r.request_id = "dkim-relay";
  r.tenant = "acme";
  r.from = {"Équipe Acme", "sender@example.com"};
  r.to = {{"Kate", "kate@example.net"}};
  r.headers = {{"List-Unsubscribe", "<mailto:unsubscribe@example.com>"}};
  iaposte::mime::content content{"Récapitulatif signé",
                                 "Bonjour Kate,\n.\n..deux points\n\tune tabulation  et des "
                                 "espaces  \n\nÀ bientôt.\n",
                                 "<p>Bonjour <b>Kate</b>,</p>"};
  const std::string message = iaposte::mime::compose(
      r, content, iaposte::mime::make_message_id("acme", r.request_id, "example.com"),
      std::chrono::system_clock::now());
  const std::string signed_message =
      iaposte::dkim::signer(keys).sign(message, std::chrono::system_clock::now());

  boost::asio::io_context ioc;
  client c(ioc.get_executor(), config(tls_mode::required));
  auto o = test::run(ioc, c.send({"sender@example.com", {"kate@example.net"}}, signed_message));
  REQUIRE_MESSAGE(o.kind == outcome_kind::sent, o.error, "\nmaillog:\n", server().maillog());
  REQUIRE_MESSAGE(server().wait_for_mail("kate", 1), server().maillog());
  const std::string stored = server().mailbox("kate").at(0);
  // The maildir holds LF lines (local delivery converts); a verifier sees the CRLF form.
  std::string delivered;
  for (char ch : stored)
    delivered += ch == '\n' ? std::string("\r\n") : std::string(1, ch);
  CHECK(delivered.find("\r\nReceived: from client.test ") != std::string::npos);
  iaposte::dkim::test::dkimpy verifier(fs::path(IAPOSTE_PEERS_DIR) / "dkimpy_verify.py");
  const auto v = verifier.verify(delivered, records);
  CHECK_MESSAGE(iaposte::dkim::test::all_ok(v), iaposte::dkim::test::describe(v), "\n", stored);
  CHECK(v.size() == 2);
  // And the relay did not make every signature pass by accident: one byte changed breaks them.
  std::string altered = delivered;
  altered.replace(altered.find("Bonjour"), 7, "Bonsoir");
  CHECK_FALSE(iaposte::dkim::test::all_ok(verifier.verify(altered, records)));
}

} // namespace test_integration_postfix_postfix_test
