// The whole message: header block in a fixed order, then the body, as nested as its content needs.
#include "mime/compose.hpp"

#include <openssl/evp.h>

#include <cstdio>

#include "core/idn.hpp"
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

detail::entity text_entity(std::string_view subtype, std::string_view text) {
  auto b = encode_body(text);
  detail::entity e;
  e.headers = part_headers(subtype, b);
  e.ends_with_break = b.transfer_encoding == "base64"; // base64 lines end with CRLF
  e.body = std::move(b.data);
  return e;
}

// The body as nested as the content needs (see compose()). Boundaries are derived from the
// Message-ID, one tag per level, so that a retry produces the same bytes; "=_" cannot occur in
// quoted-printable or base64, and 7bit parts are checked.
detail::entity body_entity(const content& c, std::string_view message_id) {
  using detail::entity;
  const std::string id(message_id);
  std::vector<entity> inline_parts, attached;
  for (const auto& a : c.attachments)
    (a.content_id.empty() || c.html.empty() ? attached : inline_parts)
        .push_back(detail::attachment_entity(a));

  entity html;
  if (!c.html.empty()) {
    html = text_entity("html", c.html);
    if (!inline_parts.empty()) {
      inline_parts.insert(inline_parts.begin(), std::move(html));
      html = detail::multipart("related", "type=\"text/html\"; ", id + "/related", inline_parts);
    }
  }
  entity body;
  if (!c.text.empty() && !c.html.empty())
    body = detail::multipart("alternative", "", id, {text_entity("plain", c.text), html});
  else if (!c.html.empty())
    body = std::move(html);
  else
    body = text_entity("plain", c.text);
  if (attached.empty()) return body;
  attached.insert(attached.begin(), std::move(body));
  return detail::multipart("mixed", "", id + "/mixed", attached);
}

// Structured headers from the request (In-Reply-To, References, ...) are ASCII by
// validation; the unstructured ones may need encoded-words.
bool is_unstructured(std::string_view name) {
  return name == "Comments" ||
         (name.size() > 2 && (name[0] == 'X' || name[0] == 'x') && name[1] == '-');
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
  // A From domain in U-labels (RFC 6532) would put UTF-8 in the Message-ID, which threading
  // and old readers compare as ASCII: the A-label form names the same domain.
  auto ascii = core::idn::to_ascii(domain);
  if (ascii.empty()) ascii = std::string(domain);
  return "<" + detail::sha256_hex(key).substr(0, 32) + "@" + ascii + ">";
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
  for (const auto& [name, value] : c.headers)
    out += fold_header(name, header_clean(value), true);

  auto body = body_entity(c, message_id);
  out += body.headers;
  out += crlf;
  out += body.body;
  // DATA ends with CRLF "." CRLF: the message itself ends with a line break.
  if (body.body.size() < 2 || body.body.compare(body.body.size() - 2, 2, crlf) != 0) out += crlf;
  return out;
}

} // namespace iaposte::mime
