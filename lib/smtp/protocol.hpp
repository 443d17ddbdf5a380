// SMTP command encoding and the DATA payload transform (internal to lib/smtp).
#pragma once

#include <string>
#include <string_view>

namespace iaposte::smtp::protocol {

// A command argument that could end or inject a command (CR, LF, NUL, other controls, or an
// angle bracket inside a path) is refused before anything is written.
bool safe_path(std::string_view address);     // for MAIL FROM / RCPT TO; empty is the null path
bool safe_domain(std::string_view helo_name); // for EHLO / HELO

std::string ehlo(std::string_view name);
std::string helo(std::string_view name);
std::string mail_from(std::string_view address);
std::string rcpt_to(std::string_view address);
inline constexpr std::string_view data = "DATA\r\n";
inline constexpr std::string_view rset = "RSET\r\n";
inline constexpr std::string_view quit = "QUIT\r\n";
inline constexpr std::string_view starttls = "STARTTLS\r\n";
inline constexpr std::string_view auth_login = "AUTH LOGIN\r\n";

// RFC 4616 with an empty authorization identity, sent as the initial response (RFC 4954 §4).
std::string auth_plain(std::string_view user, std::string_view password);
// One AUTH LOGIN answer: the base64 of `value` and CRLF.
std::string auth_login_answer(std::string_view value);

std::string base64_encode(std::string_view in);

// Turns a message (header and body) into what follows DATA (RFC 5321 §4.5.2, §2.3.8): every
// bare CR and bare LF becomes CRLF, so "<LF>.<LF>" or "<CR>.<CR>" can never reach the server
// (SMTP smuggling); a line starting with "." gets one more; the last line gets its CRLF; then
// ".\r\n". One pass, one allocation.
void append_data_payload(std::string& out, std::string_view message);
std::string data_payload(std::string_view message);

} // namespace iaposte::smtp::protocol
