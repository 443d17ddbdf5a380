// Parses server replies (RFC 5321 §4.2) and EHLO capabilities: the only code that reads server
// bytes.
#include "smtp/reply.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace iaposte::smtp {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

char upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return upper(x) == upper(y); });
}

// Server bytes end up in error strings that get logged: keep them printable and short.
std::string printable(std::string_view s, std::size_t max = 64) {
  std::string out;
  for (char c : s.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (s.size() > max) out += "...";
  return out;
}

// RFC 3463 §2: class "." subject "." detail, subject and detail 1 to 3 digits. Returns the
// code when `text` starts with one whose class matches the reply's first digit.
std::string enhanced_code(std::string_view text, char class_digit) {
  if (text.size() < 5 || text[0] != class_digit || text[1] != '.') return {};
  std::size_t i = 2;
  auto digits = [&] {
    std::size_t start = i;
    while (i < text.size() && is_digit(text[i]) && i - start < 4)
      ++i;
    return i - start;
  };
  std::size_t subject = digits();
  if (subject < 1 || subject > 3 || i >= text.size() || text[i] != '.') return {};
  ++i;
  std::size_t detail = digits();
  if (detail < 1 || detail > 3) return {};
  if (i < text.size() && text[i] != ' ' && text[i] != '\t') return {};
  return std::string(text.substr(0, i));
}

} // namespace

bool reply::asks_to_slow_down() const {
  return closing() || (transient() && enhanced.size() > 4 && enhanced.compare(0, 4, "4.7.") == 0);
}

bool reply::bad_address() const {
  // The enhanced code's class says permanent, also for a refusal decided here (code 0).
  return enhanced.size() > 4 && enhanced.compare(0, 4, "5.1.") == 0;
}

std::string reply::text() const {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += ' ';
    out += l;
  }
  return out;
}

reply_parser::reply_parser(std::size_t max_line, std::size_t max_lines)
    : max_line_(max_line), max_lines_(max_lines) {}

// Lines are kept as sent (only the code and separator are removed): the enhanced code stays in
// the first line's text too, so nothing the server said is lost.
reply_parser::state reply_parser::feed(std::string_view data, std::size_t& used) {
  used = 0;
  if (!error_.empty()) return state::error;
  if (done_) return state::complete;

  auto fail = [&](std::string why) {
    error_ = std::move(why);
    partial_.clear();
    partial_.shrink_to_fit();
    return state::error;
  };

  while (used < data.size()) {
    std::string_view rest = data.substr(used);
    const void* nl = std::memchr(rest.data(), '\n', rest.size());
    std::size_t take = nl ? static_cast<const char*>(nl) - rest.data() : rest.size();
    // The bound is checked before appending, so memory stays under max_line + 1 (a CR).
    if (partial_.size() + take > max_line_ + 1)
      return fail("reply line longer than " + std::to_string(max_line_) + " bytes");
    partial_.append(rest.data(), take);
    used += take;
    if (!nl) return state::need_more;
    ++used; // the LF

    std::string_view line = partial_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1); // CRLF, or a tolerated bare LF
    if (line.size() > max_line_)
      return fail("reply line longer than " + std::to_string(max_line_) + " bytes");

    // RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
    //                             Reply-code [ SP textstring ] CRLF
    // First digit 2 to 5, second 0 to 5, third 0 to 9 (§4.2.1).
    bool code_ok = line.size() >= 3 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' &&
                   line[1] <= '5' && is_digit(line[2]);
    if (!code_ok || (line.size() > 3 && line[3] != ' ' && line[3] != '-'))
      return fail("malformed reply line \"" + printable(line) + "\"");
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    bool last = line.size() == 3 || line[3] == ' ';
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};

    if (current_.lines.empty()) {
      current_.code = code;
      current_.enhanced = enhanced_code(text, line[0]);
    } else if (code != current_.code) {
      return fail("reply code changed from " + std::to_string(current_.code) + " to " +
                  std::to_string(code) + " within one reply");
    }
    if (current_.lines.size() >= max_lines_)
      return fail("reply longer than " + std::to_string(max_lines_) + " lines");
    current_.lines.emplace_back(text);
    partial_.clear();
    if (last) {
      done_ = true;
      return state::complete;
    }
  }
  return state::need_more;
}

reply reply_parser::take() {
  reply r = std::move(current_);
  current_ = reply{};
  done_ = false;
  return r;
}

capabilities parse_ehlo(const reply& r) {
  capabilities caps;
  // The first line is "domain [greeting]"; each following line is one ehlo-line (RFC 5321
  // §4.1.1.1).
  for (std::size_t i = 1; i < r.lines.size(); ++i) {
    std::string_view line = r.lines[i];
    std::vector<std::string_view> words;
    std::size_t pos = 0;
    while (pos < line.size()) {
      std::size_t start = line.find_first_not_of(" \t", pos);
      if (start == std::string_view::npos) break;
      std::size_t end = line.find_first_of(" \t", start);
      if (end == std::string_view::npos) end = line.size();
      words.push_back(line.substr(start, end - start));
      pos = end;
    }
    if (words.empty()) continue; // smtp-sink ends its list with a bare "250 "

    std::string_view key = words[0];
    std::size_t first_param = 1;
    // Pre-RFC 2554 servers (old Outlook, some appliances) announce "AUTH=LOGIN PLAIN".
    if (key.size() > 5 && iequals(key.substr(0, 5), "AUTH=")) {
      words[0] = key.substr(5);
      key = "AUTH";
      first_param = 0;
    }

    if (iequals(key, "STARTTLS")) {
      caps.starttls = true;
    } else if (iequals(key, "PIPELINING")) {
      caps.pipelining = true;
    } else if (iequals(key, "8BITMIME")) {
      caps.eightbitmime = true;
    } else if (iequals(key, "SMTPUTF8")) {
      caps.smtputf8 = true;
    } else if (iequals(key, "ENHANCEDSTATUSCODES")) {
      caps.enhanced_status_codes = true;
    } else if (iequals(key, "SIZE")) {
      // RFC 1870: "SIZE" alone means the server announces no fixed limit; keep 0.
      caps.size_offered = true;
      if (words.size() > 1) {
        std::size_t n = 0;
        auto [p, ec] = std::from_chars(words[1].data(), words[1].data() + words[1].size(), n);
        if (ec == std::errc{} && p == words[1].data() + words[1].size()) caps.size = n;
      }
    } else if (iequals(key, "AUTH")) {
      for (std::size_t w = first_param; w < words.size(); ++w) {
        if (iequals(words[w], "PLAIN"))
          caps.auth_plain = true;
        else if (iequals(words[w], "LOGIN"))
          caps.auth_login = true;
        else if (iequals(words[w], "XOAUTH2"))
          caps.auth_xoauth2 = true;
      }
    }
  }
  return caps;
}

} // namespace iaposte::smtp
