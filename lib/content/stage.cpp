// The content stage's last step: the message composed (List-Unsubscribe for marketing mail)
// and signed with the tenant's DKIM keys; the keys loaded once, at start.
#include "content/stage.hpp"

#include <algorithm>

#include "content/detail.hpp"
#include "core/idn.hpp"

namespace iaposte::content {
namespace {

std::string lower_ascii(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return s;
}

// The From domain as DKIM names it (d= is ASCII: A-labels for an IDN, RFC 6376 §3.5).
std::string signing_domain_of(const std::string& email) {
  const auto at = email.rfind('@');
  const std::string domain = at == std::string::npos ? std::string() : email.substr(at + 1);
  const std::string ascii = core::idn::to_ascii(domain);
  return lower_ascii(ascii.empty() ? domain : ascii);
}

} // namespace

stage::stage(stage_config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {
  std::map<std::pair<std::string, std::string>, std::vector<dkim::signing_key>> keys;
  for (const auto& k : impl_->cfg.dkim_keys)
    keys[{k.tenant, lower_ascii(k.key.domain)}].push_back(dkim::signing_key::load(k.key));
  for (auto& [where, list] : keys)
    impl_->signers[where] = std::make_shared<const dkim::signer>(std::move(list));
}

stage::~stage() = default;

std::string stage::message_id(const core::request& req) const {
  std::string domain = impl_->cfg.message_id_domain;
  if (domain.empty()) domain = req.from.email.substr(req.from.email.rfind('@') + 1);
  return mime::make_message_id(req.tenant, req.request_id, domain);
}

stage::finished stage::finish(const core::request& req, const mime::content& content,
                              std::string_view message_id, core::clock::time_point date) const {
  finished out;
  mime::content c = content;
  if (req.category == core::mail_category::marketing) {
    // RFC 8058: one-click needs an https URL and List-Unsubscribe-Post; a mailto alone is
    // RFC 2369's older form.
    std::string value, post;
    if (req.unsubscribe) {
      if (!req.unsubscribe->url.empty()) value = "<" + req.unsubscribe->url + ">";
      if (!req.unsubscribe->mailto.empty())
        value +=
            (value.empty() ? "" : ", ") + std::string("<mailto:") + req.unsubscribe->mailto + ">";
      if (!req.unsubscribe->url.empty()) post = "List-Unsubscribe=One-Click";
    } else if (impl_->cfg.unsubscribe) {
      const auto recipients = req.envelope_recipients();
      if (!recipients.empty())
        std::tie(value, post) = impl_->cfg.unsubscribe(req.tenant, recipients.front(), req.list);
    }
    if (value.empty()) {
      out.rejection = "marketing mail needs unsubscribe links: give unsubscribe.url or "
                      "unsubscribe.mailto, or configure [unsubscribe] on the daemon";
      return out;
    }
    c.headers.emplace_back("List-Unsubscribe", value);
    if (!post.empty()) c.headers.emplace_back("List-Unsubscribe-Post", post);
  }
  out.message = mime::compose(req, c, message_id, date);

  // The tenant's own keys for the From domain, else keys shared by every tenant ("*").
  const std::string domain = signing_domain_of(req.from.email);
  const dkim::signer* signer = nullptr;
  for (const std::string& tenant : {req.tenant, std::string("*")}) {
    if (auto it = impl_->signers.find({tenant, domain}); it != impl_->signers.end()) {
      signer = it->second.get();
      break;
    }
  }
  if (signer) {
    try {
      out.message = signer->sign(out.message, date);
    } catch (const dkim::error& e) {
      out.message.clear();
      out.rejection = std::string("DKIM: ") + e.what();
    }
  }
  return out;
}

std::vector<dkim::dns_record> stage::dns_records() const {
  std::vector<dkim::dns_record> out;
  for (const auto& [where, signer] : impl_->signers)
    for (const auto& key : signer->keys())
      out.push_back(key.public_record());
  return out;
}

} // namespace iaposte::content
