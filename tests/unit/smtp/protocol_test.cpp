// Specifies command encoding and the DATA payload transform (dot-stuffing, line ends).
#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <string>

#include "smtp/protocol.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_protocol_test {

using namespace iaposte::smtp;

TEST_CASE("commands are encoded with CRLF and angle-bracketed paths") {
  CHECK(protocol::ehlo("client.example") == "EHLO client.example\r\n");
  CHECK(protocol::helo("client.example") == "HELO client.example\r\n");
  CHECK(protocol::mail_from("a@example.com") == "MAIL FROM:<a@example.com>\r\n");
  CHECK(protocol::mail_from("") == "MAIL FROM:<>\r\n");
  CHECK(protocol::rcpt_to("b@example.net") == "RCPT TO:<b@example.net>\r\n");
  CHECK(protocol::data == "DATA\r\n");
  CHECK(protocol::rset == "RSET\r\n");
  CHECK(protocol::quit == "QUIT\r\n");
}

TEST_CASE("a path that could inject a command or parameter is refused") {
  CHECK(protocol::safe_path("a@example.com"));
  CHECK(protocol::safe_path("")); // the null reverse-path
  CHECK(protocol::safe_path("\"john smith\"@example.com"));
  CHECK_FALSE(protocol::safe_path("a@example.com>\r\nRCPT TO:<evil@example.com"));
  CHECK_FALSE(protocol::safe_path("a@example.com\n"));
  CHECK_FALSE(protocol::safe_path(std::string("a\0b@example.com", 15)));
  CHECK_FALSE(protocol::safe_path("a@example.com> SIZE=1"));
  CHECK_FALSE(protocol::safe_path(std::string(255, 'a')));
  CHECK(protocol::safe_domain("mail.example.com"));
  CHECK(protocol::safe_domain("[192.0.2.1]"));
  CHECK_FALSE(protocol::safe_domain("evil\r\nMAIL FROM:<x>"));
  CHECK_FALSE(protocol::safe_domain(""));
}

TEST_CASE("base64 follows RFC 4648 test vectors") {
  CHECK(protocol::base64_encode("") == "");
  CHECK(protocol::base64_encode("f") == "Zg==");
  CHECK(protocol::base64_encode("fo") == "Zm8=");
  CHECK(protocol::base64_encode("foo") == "Zm9v");
  CHECK(protocol::base64_encode("foob") == "Zm9vYg==");
  CHECK(protocol::base64_encode("fooba") == "Zm9vYmE=");
  CHECK(protocol::base64_encode("foobar") == "Zm9vYmFy");
  CHECK(protocol::base64_encode(std::string("\xff\xfe\x00"
                                            "a",
                                            4)) == "//4AYQ==");
}

TEST_CASE("AUTH PLAIN sends the RFC 4616 token as initial response, AUTH LOGIN one answer per "
          "line") {
  // base64("\0user\0pass")
  CHECK(protocol::auth_plain("user", "pass") == "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
  CHECK(protocol::auth_login == "AUTH LOGIN\r\n");
  CHECK(protocol::auth_login_answer("user") == "dXNlcg==\r\n");
}

TEST_CASE("DATA payload: a line starting with a dot gets one more") {
  CHECK(protocol::data_payload(".\r\n") == "..\r\n.\r\n");
  CHECK(protocol::data_payload("a\r\n.b\r\n..c\r\n") == "a\r\n..b\r\n...c\r\n.\r\n");
  CHECK(protocol::data_payload(".first") == "..first\r\n.\r\n");
  CHECK(protocol::data_payload("a.b\r\n") == "a.b\r\n.\r\n");
}

TEST_CASE("DATA payload: bare LF and bare CR become CRLF") {
  CHECK(protocol::data_payload("a\nb\n") == "a\r\nb\r\n.\r\n");
  CHECK(protocol::data_payload("a\rb\r") == "a\r\nb\r\n.\r\n");
  CHECK(protocol::data_payload("a\r\r\nb") == "a\r\n\r\nb\r\n.\r\n");
  CHECK(protocol::data_payload("a\n\rb") == "a\r\n\r\nb\r\n.\r\n");
}

TEST_CASE("DATA payload: no smuggling sequence <LF>.<LF> or <CR>.<CR> can reach the server") {
  // The SMTP smuggling attacks (2023) rely on a receiver that ends DATA on a bare-LF or
  // bare-CR dot line; after the transform every dot line is stuffed and CRLF-terminated.
  for (std::string_view evil : {"a\n.\nMAIL FROM:<x>\n", "a\r.\rMAIL FROM:<x>\r",
                                "a\r\n.\nRCPT TO:<x>\r\n", "a\n.\r\nDATA\r\n", "x\r\n.\r"}) {
    CAPTURE(evil);
    std::string p = protocol::data_payload(evil);
    CHECK(p.find("\n.\n") == std::string::npos);
    CHECK(p.find("\r.\r") == std::string::npos);
    // The only unstuffed dot line is the terminator at the very end.
    CHECK(p.find("\r\n.\r\n") == p.size() - 5);
    // Every CR is followed by LF and every LF preceded by CR.
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (p[i] == '\r') CHECK((i + 1 < p.size() && p[i + 1] == '\n'));
      if (p[i] == '\n') CHECK((i > 0 && p[i - 1] == '\r'));
    }
  }
}

TEST_CASE("DATA payload: the last line gets its CRLF, an empty body is just the terminator") {
  CHECK(protocol::data_payload("no newline") == "no newline\r\n.\r\n");
  CHECK(protocol::data_payload("ends\r\n") == "ends\r\n.\r\n");
  CHECK(protocol::data_payload("") == ".\r\n");
  CHECK(protocol::data_payload("\r\n") == "\r\n.\r\n");
}

TEST_CASE("DATA payload: appends to an existing buffer") {
  std::string out = "DATA\r\n";
  protocol::append_data_payload(out, "x");
  CHECK(out == "DATA\r\nx\r\n.\r\n");
}

TEST_CASE("DATA payload: a 10 MiB message is transformed in one pass, quickly") {
  std::string line(76, 'a');
  line += "\r\n";
  std::string msg;
  while (msg.size() < 10u << 20)
    msg += line;
  auto t0 = std::chrono::steady_clock::now();
  std::string p = protocol::data_payload(msg);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  CHECK(p.size() == msg.size() + 3);
  MESSAGE("10 MiB transformed in " << ms.count() << " ms");
  CHECK(ms.count() < 2000); // generous: a Debug build on a shared machine
}

TEST_CASE("MAIL FROM carries SIZE=, BODY=8BITMIME and SMTPUTF8 when asked; RCPT appends") {
  std::string out;
  protocol::append_mail_from(out, "a@example.com", {});
  CHECK(out == "MAIL FROM:<a@example.com>\r\n");
  out.clear();
  protocol::append_mail_from(out, "", {12345, true, true});
  CHECK(out == "MAIL FROM:<> SIZE=12345 BODY=8BITMIME SMTPUTF8\r\n");
  protocol::append_rcpt_to(out, "b@example.net");
  CHECK(out.ends_with("SMTPUTF8\r\nRCPT TO:<b@example.net>\r\n"));
}

TEST_CASE("an address with a non-ASCII byte is internationalised; 8-bit detection is exact") {
  CHECK(protocol::internationalised("hélène@exemple.fr"));
  CHECK(protocol::internationalised("a@exemple.fr") == false);
  CHECK(protocol::internationalised("") == false);
  CHECK(protocol::has_8bit(std::string(1000, 'a')) == false);
  for (std::size_t pos : {0u, 7u, 31u, 32u, 33u, 999u}) {
    std::string s(1000, 'a');
    s[pos] = '\x80';
    CAPTURE(pos);
    CHECK(protocol::has_8bit(s));
  }
}

TEST_CASE("XOAUTH2 initial response: base64 of user=U^Aauth=Bearer T^A^A") {
  // base64("user=u@example.com\x01auth=Bearer tok\x01\x01")
  CHECK(protocol::auth_xoauth2("u@example.com", "tok") ==
        "AUTH XOAUTH2 " +
            protocol::base64_encode("user=u@example.com\x01"
                                    "auth=Bearer tok\x01\x01") +
            "\r\n");
  CHECK(protocol::base64_encode("user=u@example.com\x01"
                                "auth=Bearer tok\x01\x01") ==
        "dXNlcj11QGV4YW1wbGUuY29tAWF1dGg9QmVhcmVyIHRvawEB");
}

namespace {
std::string joined(const protocol::payload& p) {
  std::string s;
  for (auto piece : p.pieces)
    s.append(piece);
  return s;
}
} // namespace

TEST_CASE("DATA payload pieces: a clean message is sent from its own memory, no copy") {
  const std::string m = "Subject: x\r\n\r\nline one\r\nline two\r\n";
  protocol::payload p;
  p.build(m);
  REQUIRE(p.pieces.size() == 2);
  CHECK(p.pieces[0].data() == m.data()); // a slice of the message itself
  CHECK(p.pieces[0].size() == m.size());
  CHECK(p.pieces[1] == ".\r\n");
  CHECK(p.message_size == m.size());
  CHECK(p.wire_size == m.size() + 3);
  CHECK_FALSE(p.eight_bit);
  // Rebuilding reuses the vector.
  auto cap = p.pieces.capacity();
  p.build(m);
  CHECK(p.pieces.capacity() == cap);
}

TEST_CASE("DATA payload pieces: sizes agree with the bytes, stuffing not counted in SIZE") {
  for (std::string_view m : {"", "x", ".\r\n", "a\nb\rc\r\n.d", "é\r\n", "\r\n\r\n..\n"}) {
    CAPTURE(m);
    protocol::payload p;
    p.build(m);
    std::string wire = joined(p);
    CHECK(wire == protocol::data_payload(m));
    CHECK(p.wire_size == wire.size());
    std::size_t dots = 0; // stuffed dots: lines of the wire starting with ".." or a lone "." line
    for (std::size_t i = 0; i + 1 < wire.size(); ++i)
      if ((i == 0 || wire[i - 1] == '\n') && wire[i] == '.' && i + 3 != wire.size()) ++dots;
    CHECK(p.message_size == wire.size() - 3 - dots);
  }
}

TEST_CASE("DATA payload: a line over 998 octets is broken with CRLF SP, never longer on the wire") {
  std::string long_line(2500, 'x');
  std::string m = "Subject: x\r\n\r\n" + long_line + "\r\nend\r\n";
  protocol::payload p;
  p.build(m);
  std::string wire = joined(p);
  CHECK(p.lines_broken == 2);
  std::size_t start = 0;
  while (start < wire.size()) {
    std::size_t eol = wire.find("\r\n", start);
    REQUIRE(eol != std::string::npos);
    CHECK(eol - start <= 998);
    start = eol + 2;
  }
  // The content is kept: removing the inserted CRLF SP gives the message back.
  std::string back = wire.substr(0, wire.size() - 3);
  for (std::size_t k; (k = back.find("\r\n ")) != std::string::npos;)
    back.erase(k, 3);
  CHECK(back == m);
  CHECK(p.message_size == m.size() + 6);
  // A stuffed long line: the dot is not counted (RFC 5321 §4.5.3.1.6), the line still breaks.
  std::string dotted = "." + std::string(1500, 'y');
  p.build(dotted);
  wire = joined(p);
  CHECK(wire.starts_with(".." + std::string(997, 'y') + "\r\n "));
}

TEST_CASE("DATA payload: a body of bare LFs is normalised piece by piece") {
  std::string m;
  for (int i = 0; i < 100; ++i)
    m += "line\n";
  protocol::payload p;
  p.build(m);
  CHECK(p.pieces.size() == 201); // each line, its CRLF, and the terminator
  CHECK(joined(p) == protocol::data_payload(m));
}

namespace {

// The transform written the obvious way, one byte at a time, to check the piece builder against.
std::string reference_payload(std::string_view m, std::size_t& stuffed) {
  std::vector<std::string> lines;
  std::string cur;
  bool open = false; // a line has started and not ended
  for (std::size_t i = 0; i < m.size(); ++i) {
    char c = m[i];
    if (c == '\r' || c == '\n') {
      lines.push_back(cur);
      cur.clear();
      open = false;
      if (c == '\r' && i + 1 < m.size() && m[i + 1] == '\n') ++i;
    } else {
      cur += c;
      open = true;
    }
  }
  if (open) lines.push_back(cur);
  std::string out;
  stuffed = 0;
  for (const auto& l : lines) {
    if (!l.empty() && l[0] == '.') {
      out += '.';
      ++stuffed;
    }
    std::size_t pos = 0, room = 998;
    while (l.size() - pos > room) {
      out.append(l, pos, room);
      out += "\r\n ";
      pos += room;
      room = 997;
    }
    out.append(l, pos);
    out += "\r\n";
  }
  return out + ".\r\n";
}

} // namespace

TEST_CASE("DATA payload pieces: 20000 random messages give what the byte-by-byte reference gives") {
  std::mt19937 rng(20261125);
  const char alphabet[] = {'a', 'b', '.', '.', '\r', '\n', ' ', '\xc3', '\xa9'};
  protocol::payload p; // reused across messages, as a session does
  for (int round = 0; round < 20000; ++round) {
    std::string m;
    std::size_t len = rng() % 64;
    for (std::size_t i = 0; i < len; ++i) {
      if (rng() % 50 == 0)
        m.append(990 + rng() % 1200, 'x'); // around and over the 998 limit
      else
        m += alphabet[rng() % sizeof alphabet];
    }
    p.build(m);
    std::size_t stuffed = 0;
    std::string want = reference_payload(m, stuffed);
    std::string got = joined(p);
    if (got != want) {
      CAPTURE(m);
      REQUIRE(got == want);
    }
    REQUIRE(p.wire_size == want.size());
    REQUIRE(p.message_size == want.size() - stuffed - 3);
    REQUIRE(p.eight_bit == (m.find_first_of("\xc3\xa9") != std::string::npos));
  }
}

} // namespace test_unit_smtp_protocol_test
