// The synchronous content API's connection, the shared row decoding, signatures and
// suppressions.
#include "store/content.hpp"

#include "store/codec.hpp"
#include "store/content_detail.hpp"

namespace iaposte::store {

namespace detail {

std::string field_text(const pqxx::field& f) {
  return f.is_null() ? std::string{} : std::string(f.c_str(), f.size());
}

core::clock::time_point field_time_us(const pqxx::field& f) {
  return f.is_null() ? core::clock::time_point{} : from_epoch_us(f.as<std::int64_t>());
}

const char* const suppression_columns = "tenant, address, reason, list, " IAPOSTE_SQL_US(
    "since") " AS since_us, "
             "coalesce(source_request_id, '') AS source_request_id, note";

suppression suppression_of(const pqxx::row& r) {
  suppression s;
  s.tenant = field_text(r["tenant"]);
  s.address = field_text(r["address"]);
  // The column's CHECK admits only these names.
  s.reason = suppression_reason_from(field_text(r["reason"])).value_or(suppression_reason::manual);
  s.list = field_text(r["list"]);
  s.since = field_time_us(r["since_us"]);
  s.source_request_id = field_text(r["source_request_id"]);
  s.note = field_text(r["note"]);
  return s;
}

const char* const upsert_suppressions_sql =
    "WITH given AS ("
    "  SELECT DISTINCT ON (x.t, address_key(x.a), x.l)"
    "         x.t AS tenant, address_key(x.a) AS address, x.r AS reason, x.l AS list,"
    "         nullif(x.s, '') AS source_request_id, x.n AS note"
    "    FROM jsonb_to_recordset($1::jsonb) AS x(i integer, t text, a text, r text, l text,"
    "                                            s text, n text)"
    "   ORDER BY x.t, address_key(x.a), x.l, (x.r = 'unsubscribe'), x.i)"
    " INSERT INTO suppressions AS s (tenant, address, reason, list, source_request_id, note)"
    " SELECT tenant, address, reason, list, source_request_id, note FROM given"
    " ON CONFLICT (tenant, address, list) DO UPDATE"
    "   SET reason = EXCLUDED.reason, source_request_id = EXCLUDED.source_request_id,"
    "       note = EXCLUDED.note"
    "   WHERE s.reason = 'unsubscribe' AND EXCLUDED.reason <> 'unsubscribe'"
    " RETURNING tenant, address, reason, list, " IAPOSTE_SQL_US(
        "since") " AS since_us,"
                 "   coalesce(source_request_id, '') AS source_request_id, note";

} // namespace detail

// --- the synchronous API: plumbing ---------------------------------------------------------

content_store::content_store(std::string url) : impl_(std::make_unique<impl>()) {
  impl_->url = std::move(url);
}

content_store::~content_store() = default;

// --- signatures ----------------------------------------------------------------------------

namespace {

void check_sender(std::string_view sender) {
  if (!sender.empty()) detail::check_email(sender, "sender");
}

signature signature_of(const pqxx::row& r) {
  return {detail::field_text(r["tenant"]), detail::field_text(r["sender"]),
          detail::field_text(r["html"]), detail::field_text(r["text"]),
          detail::field_time_us(r["updated_us"])};
}

} // namespace

void content_store::set_signature(const signature& s) {
  detail::check_tenant(s.tenant);
  check_sender(s.sender);
  detail::check_text(s.html, "signature html");
  detail::check_text(s.text, "signature text");
  if (s.html.empty() && s.text.empty())
    throw std::invalid_argument("signature: give an HTML or a text version (or both)");
  impl_->run([&](pqxx::connection& c) {
    pqxx::work w(c);
    w.exec_params("INSERT INTO signatures (tenant, sender, html, text) "
                  "VALUES ($1, address_key($2), $3, $4) ON CONFLICT (tenant, sender) DO UPDATE "
                  "SET html = EXCLUDED.html, text = EXCLUDED.text, updated_at = now()",
                  s.tenant, s.sender, s.html, s.text);
    w.commit();
  });
}

std::optional<signature> content_store::get_signature(const std::string& tenant,
                                                      const std::string& sender, bool fall_back) {
  detail::check_tenant(tenant);
  check_sender(sender);
  return impl_->run([&](pqxx::connection& c) -> std::optional<signature> {
    pqxx::read_transaction r(c);
    // The sender's own sorts before the default ('').
    const auto res =
        r.exec_params("SELECT tenant, sender, html, text, " IAPOSTE_SQL_US(
                          "updated_at") " AS updated_us "
                                        "FROM signatures WHERE tenant = $1 AND (sender = "
                                        "address_key($2) OR ($3 AND sender = "
                                        "'')) ORDER BY sender DESC LIMIT 1",
                      tenant, sender, fall_back);
    if (res.empty()) return std::nullopt;
    return signature_of(res[0]);
  });
}

// --- suppressions --------------------------------------------------------------------------

suppression content_store::add_suppression(const suppression& s) {
  detail::check_tenant(s.tenant);
  detail::check_email(s.address, "address");
  detail::check_list(s.list);
  detail::check_text(s.source_request_id, "source request id");
  detail::check_text(s.note, "note");
  const nlohmann::json given = nlohmann::json::array({{{"i", 0},
                                                       {"t", s.tenant},
                                                       {"a", s.address},
                                                       {"r", to_string(s.reason)},
                                                       {"l", s.list},
                                                       {"s", s.source_request_id},
                                                       {"n", s.note}}});
  return impl_->run([&](pqxx::connection& c) {
    pqxx::work w(c);
    auto res = w.exec_params(detail::upsert_suppressions_sql, detail::to_param(given));
    if (res.empty()) // already there, with a reason at least as strong: as it is
      res = w.exec_params(std::string("SELECT ") + detail::suppression_columns +
                              " FROM suppressions WHERE tenant = $1 AND address = "
                              "address_key($2) AND list = $3",
                          s.tenant, s.address, s.list);
    w.commit();
    if (res.empty()) throw std::runtime_error("suppression not stored (removed meanwhile?)");
    return detail::suppression_of(res[0]);
  });
}

bool content_store::remove_suppression(const std::string& tenant, const std::string& address,
                                       const std::string& list,
                                       std::optional<suppression_reason> reason) {
  detail::check_tenant(tenant);
  detail::check_text(address, "address");
  detail::check_list(list);
  return impl_->run([&](pqxx::connection& c) {
    pqxx::work w(c);
    const auto res = w.exec_params(
        "DELETE FROM suppressions WHERE tenant = $1 AND address = address_key($2) AND list = $3 "
        "AND ($4 = '' OR reason = $4)",
        tenant, address, list, reason ? std::string(to_string(*reason)) : std::string());
    w.commit();
    return res.affected_rows() > 0;
  });
}

std::vector<suppression>
content_store::list_suppressions(const std::string& tenant,
                                 std::optional<suppression_reason> reason) {
  detail::check_tenant(tenant);
  return impl_->run([&](pqxx::connection& c) {
    pqxx::read_transaction r(c);
    const auto res = r.exec_params(std::string("SELECT ") + detail::suppression_columns +
                                       " FROM suppressions WHERE tenant = $1 AND ($2 = '' OR "
                                       "reason = $2) ORDER BY address, list",
                                   tenant, reason ? std::string(to_string(*reason)) : "");
    std::vector<suppression> out;
    out.reserve(res.size());
    for (const auto& row : res)
      out.push_back(detail::suppression_of(row));
    return out;
  });
}

std::optional<suppression> content_store::is_suppressed(const std::string& tenant,
                                                        const std::string& address,
                                                        mail_category category,
                                                        const std::string& list) {
  detail::check_tenant(tenant);
  detail::check_text(address, "address");
  return impl_->run([&](pqxx::connection& c) -> std::optional<suppression> {
    pqxx::read_transaction r(c);
    const auto res = r.exec_params(std::string("SELECT ") + detail::suppression_columns +
                                       " FROM suppressions WHERE tenant = $1 AND address = "
                                       "address_key($2)",
                                   tenant, address);
    std::vector<suppression> entries;
    for (const auto& row : res)
      entries.push_back(detail::suppression_of(row));
    if (const auto* s = stopping(entries, category, list)) return *s;
    return std::nullopt;
  });
}

} // namespace iaposte::store
