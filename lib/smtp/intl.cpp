// Writes an envelope for one server: U-labels with SMTPUTF8, else A-labels, else refusal 5.6.7.
#include "smtp/intl.hpp"

#include "core/idn.hpp"
#include "smtp/outcome.hpp"
#include "smtp/protocol.hpp"

namespace iaposte::smtp::intl {

namespace idn = core::idn;

bool needed(const envelope& env) {
  if (protocol::internationalised(env.mail_from)) return true;
  for (const auto& r : env.rcpt_to)
    if (protocol::internationalised(r)) return true;
  return false;
}

plan for_server(const envelope& env, bool server_offers_smtputf8) {
  plan p;
  p.refused.resize(env.rcpt_to.size());
  if (server_offers_smtputf8) {
    p.wire = env;
    p.names = env.rcpt_to;
    p.smtputf8 = needed(env);
    return p;
  }
  // The null reverse-path (<>) has nothing to convert.
  if (!env.mail_from.empty()) {
    if (idn::utf8_local_part(env.mail_from)) {
      p.failure = classify::needs_smtputf8("sender", env.mail_from);
      return p;
    }
    std::string why;
    auto at = env.mail_from.rfind('@');
    auto domain = idn::to_ascii(at == std::string::npos ? "" : env.mail_from.substr(at + 1), &why);
    if (domain.empty()) {
      p.failure = classify::no_ascii_form("sender", env.mail_from, why);
      return p;
    }
    p.wire.mail_from = env.mail_from.substr(0, at + 1) + domain;
  }
  for (std::size_t i = 0; i < env.rcpt_to.size(); ++i) {
    const auto& r = env.rcpt_to[i];
    std::optional<outcome> refusal;
    std::string why;
    auto at = r.rfind('@');
    auto domain = idn::to_ascii(at == std::string::npos ? "" : r.substr(at + 1), &why);
    if (idn::utf8_local_part(r))
      refusal = classify::needs_smtputf8("recipient", r);
    else if (domain.empty())
      refusal = classify::no_ascii_form("recipient", r, why);
    if (refusal) {
      p.refused[i] = recipient_result{r, refusal->kind, std::move(refusal->last)};
      continue;
    }
    p.wire.rcpt_to.push_back(r.substr(0, at + 1) + domain);
    p.names.push_back(r);
  }
  return p;
}

outcome all_refused(const plan& p) {
  for (const auto& r : p.refused)
    if (r) {
      outcome o = classify::local_permanent(
          r->last.enhanced == "5.6.7"
              ? "no recipient can be written for this server: " + r->address +
                    " has a non-ASCII local part and the server does not offer SMTPUTF8"
              : "no recipient can be written for this server: " + r->address +
                    " has no A-label form",
          phase::rcpt);
      o.kind = r->kind;
      o.last = r->last;
      return o;
    }
  return classify::local_permanent("no recipients");
}

void merge(outcome& o, const plan& p) {
  std::vector<recipient_result> all;
  all.reserve(p.refused.size());
  std::size_t next = 0;
  for (const auto& r : p.refused) {
    if (r)
      all.push_back(*r);
    else if (next < o.recipients.size())
      all.push_back(std::move(o.recipients[next++]));
  }
  o.recipients = std::move(all);
}

} // namespace iaposte::smtp::intl
