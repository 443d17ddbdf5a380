// Decides transient vs permanent for every way an SMTP step can end, and words the error.
#include "smtp/outcome.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

namespace iaposte::smtp::classify {

namespace {

outcome make(outcome_kind k, std::string error, reply r = {}) {
  outcome o;
  o.kind = k;
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

outcome sent(reply r) {
  return make(outcome_kind::sent, {}, std::move(r));
}

outcome rejected(phase p, reply r) {
  std::string what = std::to_string(r.code);
  if (!r.lines.empty()) what += ' ' + sanitize(r.text());
  if (r.transient())
    return make(outcome_kind::transient, std::string(p) + " deferred: " + what, std::move(r));
  if (r.permanent())
    return make(outcome_kind::permanent, std::string(p) + " rejected: " + what, std::move(r));
  return make(outcome_kind::transient, "unexpected reply to " + std::string(p) + ": " + what,
              std::move(r));
}

outcome timeout_reading(phase p) {
  if (p == "greeting") return make(outcome_kind::transient, "timeout waiting for greeting");
  return make(outcome_kind::transient, "timeout waiting for reply to " + std::string(p));
}

outcome timeout_writing(phase p) {
  return make(outcome_kind::transient, "timeout sending " + std::string(p));
}

outcome read_error(phase p, const boost::system::error_code& ec) {
  std::string where = p == "greeting" ? "greeting" : "reply to " + std::string(p);
  if (closed_by_peer(ec))
    return make(outcome_kind::transient, "connection closed by server while waiting for " + where);
  return make(outcome_kind::transient, "error reading " + where + ": " + ec.message());
}

outcome write_error(phase p, const boost::system::error_code& ec) {
  return make(outcome_kind::transient, "error sending " + std::string(p) + ": " + ec.message());
}

outcome malformed(phase p, std::string_view parser_error) {
  std::string where = p == "greeting" ? "greeting" : "reply to " + std::string(p);
  return make(outcome_kind::transient, "malformed " + where + ": " + std::string(parser_error));
}

outcome local_permanent(std::string error) {
  return make(outcome_kind::permanent, std::move(error));
}

outcome local_transient(std::string error) {
  return make(outcome_kind::transient, std::move(error));
}

outcome needs_smtputf8(std::string_view role, std::string_view address) {
  reply r;
  r.enhanced = "5.6.7";
  r.lines.push_back("non-ASCII local part, and the server does not offer SMTPUTF8");
  return make(outcome_kind::permanent,
              std::string(role) + " " + std::string(address) +
                  " has a non-ASCII local part and the server does not offer SMTPUTF8 "
                  "(RFC 6531): no ASCII form exists",
              std::move(r));
}

outcome no_ascii_form(std::string_view role, std::string_view address, std::string_view why) {
  reply r;
  r.enhanced = role == "sender" ? "5.1.7" : "5.1.3";
  r.lines.push_back("internationalised domain without an A-label form");
  return make(outcome_kind::permanent,
              std::string(role) + " " + std::string(address) +
                  ": the domain has no A-label form (" + std::string(why) + ")",
              std::move(r));
}

} // namespace iaposte::smtp::classify
