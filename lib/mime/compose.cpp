// The whole message: header block in a fixed order, then one text part or multipart/alternative.
#include "mime/compose.hpp"

#include <openssl/evp.h>

#include <cstdio>

#include "mime/detail.hpp"

namespace iaposte::mime {
namespace {

using detail::crlf;

struct encoded_body {
  std::string_view transfer_encoding;
  std::string data; // CRLF line breaks
};

// Bare CR or LF become CRLF: SMTP and MIME know no other line break (RFC 5322 §2.3).
std::string normalise_newlines(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 32);
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\r') {
      out += crlf;
      if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += crlf;
    } else {
      out += c;
    }
  }
  return out;
}

// 7bit (RFC 2045 §2.7): ASCII, no NUL, lines of at most 998 octets.
bool is_7bit(std::string_view s) {
  std::size_t line = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80 || c == 0) return false;
    if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      line = 0;
      ++i;
      continue;
    }
    if (++line > 998) return false;
  }
  return true;
}

// The smaller of quoted-printable and base64, quoted-printable on a tie: mostly-ASCII
// text stays readable, mostly non-ASCII text (Chinese, say) does not triple in size.
encoded_body encode_body(std::string_view text) {
  auto n = normalise_newlines(text);
  if (is_7bit(n)) return {"7bit", std::move(n)};
  auto qp = quoted_printable(n);
  if (qp.size() <= detail::base64_lines_size(n.size())) return {"quoted-printable", std::move(qp)};
  return {"base64", base64_lines(n)};
}

std::string part_headers(std::string_view subtype, const encoded_body& b) {
  std::string out = "Content-Type: text/";
  out += subtype;
  out += "; charset=UTF-8\r\nContent-Transfer-Encoding: ";
  out += b.transfer_encoding;
  out += crlf;
  return out;
}

// Derived from the Message-ID, so a retry produces the same bytes; "=_" cannot
// occur in quoted-printable or base64, and 7bit parts are checked.
std::string make_boundary(std::string_view message_id, const encoded_body& a,
                          const encoded_body& b) {
  for (int n = 0;; ++n) {
    std::string seed(message_id);
    if (n > 0) seed += "#" + std::to_string(n);
    auto boundary = "=_iaposte_" + detail::sha256_hex(seed).substr(0, 24);
    if (a.data.find(boundary) == std::string::npos && b.data.find(boundary) == std::string::npos)
      return boundary;
  }
}

// Structured headers from the request (In-Reply-To, References, ...) are ASCII by
// validation; the unstructured ones may need encoded-words.
bool is_unstructured(std::string_view name) {
  return name == "Comments" ||
         (name.size() > 2 && (name[0] == 'X' || name[0] == 'x') && name[1] == '-');
}

void append_part(std::string& out, std::string_view boundary, std::string_view subtype,
                 const encoded_body& b) {
  out += "--";
  out += boundary;
  out += crlf;
  out += part_headers(subtype, b);
  out += crlf;
  out += b.data;
  // The CRLF before the next delimiter belongs to the delimiter (RFC 2046 §5.1.1);
  // base64 lines already end with one.
  if (b.transfer_encoding != "base64") out += crlf;
}

} // namespace

namespace detail {

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 0xF];
  }
  return out;
}

} // namespace detail

std::string make_message_id(std::string_view tenant, std::string_view request_id,
                            std::string_view domain) {
  std::string key(tenant);
  key += '\0';
  key += request_id;
  return "<" + detail::sha256_hex(key).substr(0, 32) + "@" + std::string(domain) + ">";
}

std::string rfc5322_date(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  static constexpr const char* weekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto secs = floor<seconds>(t);
  auto day = floor<days>(secs);
  year_month_day ymd{day};
  hh_mm_ss hms{secs - day};
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02d:%02d:%02d +0000",
                weekdays[weekday{day}.c_encoding()], unsigned(ymd.day()),
                months[unsigned(ymd.month()) - 1], int(ymd.year()), int(hms.hours().count()),
                int(hms.minutes().count()), int(hms.seconds().count()));
  return buf;
}

std::string compose(const core::request& req, const content& c, std::string_view message_id,
                    std::chrono::system_clock::time_point date) {
  using namespace detail;
  std::string out;
  out += fold_header("Date", rfc5322_date(date), true);
  out += address_header("From", {req.from});
  // A message with only Bcc recipients still names its audience (RFC 5322 §3.6.3).
  out += req.to.empty() ? fold_header("To", "undisclosed-recipients:;", true)
                        : address_header("To", req.to);
  if (!req.cc.empty()) out += address_header("Cc", req.cc);
  if (req.reply_to) out += address_header("Reply-To", {*req.reply_to});
  out += unstructured_header("Subject", c.subject);
  out += fold_header("Message-ID", header_clean(message_id), true);
  out += "MIME-Version: 1.0\r\n";
  out += fold_header("X-Iaposte-Request-Id", header_clean(req.request_id), true);
  for (const auto& [name, value] : req.headers)
    out += is_unstructured(name) ? unstructured_header(name, value)
                                 : fold_header(name, header_clean(value), true);

  if (!c.text.empty() && !c.html.empty()) {
    auto text = encode_body(c.text);
    auto html = encode_body(c.html);
    auto boundary = make_boundary(message_id, text, html);
    out +=
        fold_header("Content-Type", "multipart/alternative; boundary=\"" + boundary + "\"", true);
    out += crlf;
    append_part(out, boundary, "plain", text);
    append_part(out, boundary, "html", html);
    out += "--" + boundary + "--\r\n";
    return out;
  }

  bool html_only = c.text.empty();
  auto body = encode_body(html_only ? c.html : c.text);
  out += part_headers(html_only ? "html" : "plain", body);
  out += crlf;
  out += body.data;
  // DATA ends with CRLF "." CRLF: the message itself ends with a line break.
  if (body.data.size() < 2 || body.data.compare(body.data.size() - 2, 2, crlf) != 0) out += crlf;
  return out;
}

} // namespace iaposte::mime
