// SMTP reply parsing (RFC 5321 §4.2, RFC 3463): the one place that reads server bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iaposte::smtp {

struct reply {
  int code = 0;                   // 3 digits, 0 when no reply
  std::string enhanced;           // "2.0.0" when the server sent one, else empty
  std::vector<std::string> lines; // text of each line, code and separator removed

  std::string text() const; // lines joined with " "

  // What a reply says, decided here once (RFC 5321 §4.2.1, RFC 3463).
  bool positive() const { return code >= 200 && code < 400; }
  bool completion() const { return code >= 200 && code < 300; } // 2xx: done
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500 && code < 600; }
  // 421: the server is closing the channel (§3.8); nothing more can be said on it.
  bool closing() const { return code == 421; }
  // The server asks us to send more slowly: 421, or a 4xx whose enhanced code is 4.7.x
  // (security or policy: Gmail's and Yahoo's rate limits). Another 4xx (a 451 4.3.0 local
  // error, greylisting) says nothing about the rate. Traffic shaping cuts the rate.
  bool asks_to_slow_down() const;
  // A permanent refusal of the address itself: enhanced 5.1.x (bad mailbox, bad domain, RFC
  // 3463 §3.2), from the server or decided here (code 0). The tenant's suppression list takes
  // such a recipient (a hard bounce).
  bool bad_address() const;
};

// Incremental parser: feed bytes as they arrive, take complete replies.
class reply_parser {
public:
  explicit reply_parser(std::size_t max_line = 4096, std::size_t max_lines = 256);

  enum class state { need_more, complete, error };

  // Consumes bytes from `data` up to the end of one complete reply, returns the number
  // consumed in `used`. On `complete`, take() yields the reply; on `error`, error() says why.
  state feed(std::string_view data, std::size_t& used);
  reply take();
  const std::string& error() const { return error_; }

private:
  std::size_t max_line_, max_lines_;
  std::string partial_;
  reply current_;
  std::string error_;
  bool done_ = false;
};

// Capabilities advertised in an EHLO reply.
struct capabilities {
  bool starttls = false, pipelining = false, eightbitmime = false, smtputf8 = false;
  bool enhanced_status_codes = false;
  bool size_offered = false; // SIZE, with or without a limit
  std::size_t size = 0;      // the limit; 0: none announced
  bool auth_plain = false, auth_login = false, auth_xoauth2 = false;
};
capabilities parse_ehlo(const reply& r);

} // namespace iaposte::smtp
