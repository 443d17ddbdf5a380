// Decides transient vs permanent for every way an SMTP step can end, and words the error.
#include "smtp/outcome.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

namespace iaposte::smtp::classify {

namespace {

outcome make(outcome_kind k, phase at, std::string error, reply r = {}) {
  outcome o;
  o.kind = k;
  o.at = at;
  o.scope = k == outcome_kind::sent ? failure_scope::none : scope_of(at);
  o.last = std::move(r);
  o.error = std::move(error);
  return o;
}

bool closed_by_peer(const boost::system::error_code& ec) {
  return ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated;
}

} // namespace

std::string sanitize(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max) + 3);
  for (char c : text.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (text.size() > max) out += "...";
  return out;
}

outcome sent(reply r, phase at) {
  return make(outcome_kind::sent, at, {}, std::move(r));
}

outcome rejected(phase at, reply r) {
  const std::string_view p = to_string(at);
  std::string what = std::to_string(r.code);
  if (!r.lines.empty()) what += ' ' + sanitize(r.text());
  if (r.transient())
    return make(outcome_kind::transient, at, std::string(p) + " deferred: " + what, std::move(r));
  if (r.permanent())
    return make(outcome_kind::permanent, at, std::string(p) + " rejected: " + what, std::move(r));
  return make(outcome_kind::transient, at, "unexpected reply to " + std::string(p) + ": " + what,
              std::move(r));
}

outcome timeout_reading(phase at) {
  if (at == phase::greeting)
    return make(outcome_kind::transient, at, "timeout waiting for greeting");
  return make(outcome_kind::transient, at,
              "timeout waiting for reply to " + std::string(to_string(at)));
}

outcome timeout_writing(phase at) {
  return make(outcome_kind::transient, at, "timeout sending " + std::string(to_string(at)));
}

outcome read_error(phase at, const boost::system::error_code& ec) {
  std::string where = at == phase::greeting ? "greeting" : "reply to " + std::string(to_string(at));
  if (closed_by_peer(ec))
    return make(outcome_kind::transient, at,
                "connection closed by server while waiting for " + where);
  return make(outcome_kind::transient, at, "error reading " + where + ": " + ec.message());
}

outcome write_error(phase at, const boost::system::error_code& ec) {
  return make(outcome_kind::transient, at,
              "error sending " + std::string(to_string(at)) + ": " + ec.message());
}

outcome malformed(phase at, std::string_view parser_error) {
  std::string where = at == phase::greeting ? "greeting" : "reply to " + std::string(to_string(at));
  return make(outcome_kind::transient, at, "malformed " + where + ": " + std::string(parser_error));
}

outcome local_permanent(std::string error, phase at) {
  return make(outcome_kind::permanent, at, std::move(error));
}

outcome local_transient(std::string error, phase at) {
  return make(outcome_kind::transient, at, std::move(error));
}

outcome needs_smtputf8(std::string_view role, std::string_view address) {
  reply r;
  r.enhanced = "5.6.7";
  r.lines.push_back("non-ASCII local part, and the server does not offer SMTPUTF8");
  return make(outcome_kind::permanent, role == "sender" ? phase::mail : phase::rcpt,
              std::string(role) + " " + std::string(address) +
                  " has a non-ASCII local part and the server does not offer SMTPUTF8 "
                  "(RFC 6531): no ASCII form exists",
              std::move(r));
}

outcome no_ascii_form(std::string_view role, std::string_view address, std::string_view why) {
  reply r;
  r.enhanced = role == "sender" ? "5.1.7" : "5.1.3";
  r.lines.push_back("internationalised domain without an A-label form");
  return make(outcome_kind::permanent, role == "sender" ? phase::mail : phase::rcpt,
              std::string(role) + " " + std::string(address) +
                  ": the domain has no A-label form (" + std::string(why) + ")",
              std::move(r));
}

} // namespace iaposte::smtp::classify

namespace iaposte::smtp {

std::string_view to_string(phase p) {
  switch (p) {
  case phase::local:
    return "local";
  case phase::resolve:
    return "resolve";
  case phase::connect:
    return "connect";
  case phase::tls:
    return "TLS handshake";
  case phase::greeting:
    return "greeting";
  case phase::ehlo:
    return "EHLO";
  case phase::helo:
    return "HELO";
  case phase::starttls:
    return "STARTTLS";
  case phase::auth:
    return "AUTH";
  case phase::mail:
    return "MAIL";
  case phase::rcpt:
    return "RCPT";
  case phase::data:
    return "DATA";
  case phase::body:
    return "message body";
  case phase::dot:
    return "end of data";
  case phase::rset:
    return "RSET";
  case phase::quit:
    return "QUIT";
  }
  return "?";
}

failure_scope scope_of(phase p) {
  switch (p) {
  case phase::resolve:
  case phase::connect:
  case phase::tls:
  case phase::greeting:
  case phase::ehlo:
  case phase::helo:
  case phase::starttls:
  case phase::auth:
    return failure_scope::site;
  case phase::rcpt:
    return failure_scope::recipient;
  case phase::local:
  case phase::mail:
  case phase::data:
  case phase::body:
  case phase::dot:
  case phase::rset:
  case phase::quit:
    return failure_scope::message;
  }
  return failure_scope::message;
}

} // namespace iaposte::smtp
