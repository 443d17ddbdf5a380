// SMTP command encoding and the DATA payload transform (internal to lib/smtp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace iaposte::smtp::protocol {

// A command argument that could end or inject a command (CR, LF, NUL, other controls, or an
// angle bracket inside a path) is refused before anything is written.
bool safe_path(std::string_view address);     // for MAIL FROM / RCPT TO; empty is the null path
bool safe_domain(std::string_view helo_name); // for EHLO / HELO

std::string ehlo(std::string_view name);
std::string helo(std::string_view name);
std::string mail_from(std::string_view address);
std::string rcpt_to(std::string_view address);

// MAIL FROM parameters (RFC 1870 SIZE=, RFC 6152 BODY=8BITMIME, RFC 6531 SMTPUTF8).
struct mail_params {
  std::size_t size = 0; // 0: no SIZE= parameter
  bool body_8bitmime = false;
  bool smtputf8 = false;
};
// Append to `out`, so that a pipelined group is built in one reused buffer.
void append_mail_from(std::string& out, std::string_view address, const mail_params& p);
void append_rcpt_to(std::string& out, std::string_view address);

// True when an address has a byte >= 0x80: it needs SMTPUTF8 (RFC 6531 §3.3).
bool internationalised(std::string_view address);
inline constexpr std::string_view data = "DATA\r\n";
inline constexpr std::string_view rset = "RSET\r\n";
inline constexpr std::string_view quit = "QUIT\r\n";
inline constexpr std::string_view starttls = "STARTTLS\r\n";
inline constexpr std::string_view auth_login = "AUTH LOGIN\r\n";
inline constexpr std::string_view lone_dot = ".\r\n"; // ends a DATA nobody is to receive

// RFC 4616 with an empty authorization identity, sent as the initial response (RFC 4954 §4).
std::string auth_plain(std::string_view user, std::string_view password);
// One AUTH LOGIN answer: the base64 of `value` and CRLF.
std::string auth_login_answer(std::string_view value);
// Google/Microsoft XOAUTH2 as initial response: base64("user=" U ^A "auth=Bearer " T ^A ^A).
std::string auth_xoauth2(std::string_view user, std::string_view token);
// The empty line that answers a 334 error challenge (the server then sends its 5xx).
inline constexpr std::string_view auth_cancel_challenge = "\r\n";

std::string base64_encode(std::string_view in);

// Turns a message (header and body) into what follows DATA (RFC 5321 §4.5.2, §2.3.8): every
// bare CR and bare LF becomes CRLF, so "<LF>.<LF>" or "<CR>.<CR>" can never reach the server
// (SMTP smuggling); a line starting with "." gets one more; the last line gets its CRLF; then
// ".\r\n". One pass, one allocation.
void append_data_payload(std::string& out, std::string_view message);
std::string data_payload(std::string_view message);

// The same transform without copying the message: `pieces`, written in order (gather write),
// are slices of `message` and of static literals ("." for stuffing, CRLF, the terminator).
// A CRLF-clean message without leading dots is two pieces. Rebuild reuses the capacity.
inline constexpr std::size_t max_line = 998; // RFC 5321 §4.5.3.1.6, without the CRLF
struct payload {
  std::vector<std::string_view> pieces;
  std::size_t wire_size = 0;    // octets written after DATA, terminator included
  std::size_t message_size = 0; // RFC 1870 §6.1: CRLF counted, no stuffing, no terminator
  bool eight_bit = false;       // some byte >= 0x80: needs 8BITMIME
  std::size_t lines_broken = 0; // over-long lines broken with CRLF SP
  void build(std::string_view message);
};

// True when some byte is >= 0x80.
bool has_8bit(std::string_view s);

// The header block of a message: up to its first empty line (CRLF CRLF, or LF LF), or all of it.
std::string_view header_block(std::string_view message);

} // namespace iaposte::smtp::protocol
