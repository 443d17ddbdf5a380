// Contacts on the synchronous API: one at a time, and the whole set as CSV (an import is one
// COPY into a temporary table and one upsert, in one transaction).
#include <ostream>

#include "store/codec.hpp"
#include "store/contacts_csv.hpp"
#include "store/content_detail.hpp"

namespace iaposte::store {
namespace {

#define CONTACT_COLUMNS                                                                            \
  "id, tenant, email, name, company, locale, attributes::text AS attributes, "                     \
  "(extract(epoch FROM created_at) * 1000000)::bigint AS c_us, "                                   \
  "(extract(epoch FROM updated_at) * 1000000)::bigint AS u_us"

contact contact_of(const pqxx::row& r) {
  contact c;
  c.id = r["id"].as<std::int64_t>();
  c.tenant = detail::field_text(r["tenant"]);
  c.email = detail::field_text(r["email"]);
  c.name = detail::field_text(r["name"]);
  c.company = detail::field_text(r["company"]);
  c.locale = detail::field_text(r["locale"]);
  c.attributes = nlohmann::json::parse(detail::field_text(r["attributes"]));
  c.created_at = detail::field_time_us(r["c_us"]);
  c.updated_at = detail::field_time_us(r["u_us"]);
  return c;
}

// Keys a CSV file can carry, and text PostgreSQL accepts (jsonb refuses \u0000).
void check_attributes(const nlohmann::json& attributes) {
  if (!attributes.is_object()) throw std::invalid_argument("contact attributes: not a JSON object");
  for (const auto& [key, value] : attributes.items()) {
    check_attribute_name(key);
    if (value.is_string())
      detail::check_text(value.get_ref<const std::string&>(), "attribute " + key);
  }
}

// Rows per round trip of an export.
constexpr int export_page = 5000;

} // namespace

contact content_store::upsert_contact(const contact& c) {
  detail::check_tenant(c.tenant);
  detail::check_email(c.email, "contact email");
  detail::check_text(c.name, "contact name");
  detail::check_text(c.company, "contact company");
  const std::string locale = detail::normal_locale(c.locale, "contact");
  check_attributes(c.attributes);
  return impl_->run([&](pqxx::connection& conn) {
    pqxx::work w(conn);
    const auto res = w.exec_params(
        "INSERT INTO contacts (tenant, email, name, company, locale, attributes) "
        "VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (tenant, email_key) DO UPDATE SET "
        "email = EXCLUDED.email, name = EXCLUDED.name, company = EXCLUDED.company, "
        "locale = EXCLUDED.locale, attributes = EXCLUDED.attributes, updated_at = now() "
        "RETURNING " CONTACT_COLUMNS,
        c.tenant, c.email, c.name, c.company, locale, detail::to_param(c.attributes));
    w.commit();
    return contact_of(res[0]);
  });
}

std::optional<contact> content_store::find_contact(const std::string& tenant, std::int64_t id) {
  detail::check_tenant(tenant);
  return impl_->run([&](pqxx::connection& conn) -> std::optional<contact> {
    pqxx::read_transaction r(conn);
    const auto res = r.exec_params(
        "SELECT " CONTACT_COLUMNS " FROM contacts WHERE id = $2 AND tenant = $1", tenant, id);
    if (res.empty()) return std::nullopt;
    return contact_of(res[0]);
  });
}

std::optional<contact> content_store::find_contact(const std::string& tenant,
                                                   const std::string& email) {
  detail::check_tenant(tenant);
  detail::check_text(email, "email");
  return impl_->run([&](pqxx::connection& conn) -> std::optional<contact> {
    pqxx::read_transaction r(conn);
    const auto res = r.exec_params("SELECT " CONTACT_COLUMNS " FROM contacts "
                                   "WHERE tenant = $1 AND email_key = address_key($2)",
                                   tenant, email);
    if (res.empty()) return std::nullopt;
    return contact_of(res[0]);
  });
}

bool content_store::delete_contact(const std::string& tenant, std::int64_t id) {
  detail::check_tenant(tenant);
  return impl_->run([&](pqxx::connection& conn) {
    pqxx::work w(conn);
    const auto res =
        w.exec_params("DELETE FROM contacts WHERE id = $2 AND tenant = $1", tenant, id);
    w.commit();
    return res.affected_rows() > 0;
  });
}

bool content_store::delete_contact(const std::string& tenant, const std::string& email) {
  detail::check_tenant(tenant);
  detail::check_text(email, "email");
  return impl_->run([&](pqxx::connection& conn) {
    pqxx::work w(conn);
    const auto res = w.exec_params(
        "DELETE FROM contacts WHERE tenant = $1 AND email_key = address_key($2)", tenant, email);
    w.commit();
    return res.affected_rows() > 0;
  });
}

std::size_t content_store::export_contacts(const std::string& tenant, std::ostream& out) {
  detail::check_tenant(tenant);
  return impl_->run([&](pqxx::connection& conn) {
    // One snapshot for the attribute columns and every page of rows.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> r(conn);
    std::vector<std::string> columns;
    for (const auto& row :
         r.exec_params("SELECT DISTINCT k FROM contacts, jsonb_object_keys(attributes) AS k "
                       "WHERE tenant = $1 ORDER BY k",
                       tenant))
      columns.push_back(detail::field_text(row[0]));
    out << contacts_csv_header(columns);
    // One plan and one pass over the rows (a cursor), fetched a page at a time.
    r.exec_params("DECLARE contacts_export NO SCROLL CURSOR FOR SELECT " CONTACT_COLUMNS
                  " FROM contacts WHERE tenant = $1 ORDER BY id",
                  tenant);
    std::size_t n = 0;
    for (;;) {
      const auto page = r.exec("FETCH " + std::to_string(export_page) + " FROM contacts_export");
      std::string chunk;
      for (const auto& row : page)
        chunk += contacts_csv_row(contact_of(row), columns);
      out << chunk;
      n += page.size();
      if (page.size() < static_cast<std::size_t>(export_page)) break;
    }
    out.flush();
    if (!out) throw std::runtime_error("contacts export: write failed");
    return n;
  });
}

import_result content_store::import_contacts(const std::string& tenant, std::string_view csv_text,
                                             std::size_t max_errors) {
  detail::check_tenant(tenant);
  contacts_file file = read_contacts_csv(csv_text, max_errors);
  import_result result;
  result.rows = file.rows.size();
  result.errors = std::move(file.errors);
  result.error_count = file.error_count;
  if (result.error_count > 0 || file.rows.empty()) return result;
  result.rows = file.rows.size();
  const auto [inserted, updated] =
      impl_->run([&](pqxx::connection& conn) -> std::pair<std::size_t, std::size_t> {
        pqxx::work w(conn);
        // The join and the sort by line of a large file stay in memory (the default 4 MB
        // spills 100,000 rows to disk).
        w.exec("SET LOCAL work_mem = '64MB'");
        w.exec("CREATE TEMP TABLE contacts_import (line integer, email text, name text, "
               "company text, locale text, attributes jsonb, unset jsonb) ON COMMIT DROP");
        {
          pqxx::stream_to copy(w, "contacts_import",
                               std::vector<std::string>{"line", "email", "name", "company",
                                                        "locale", "attributes", "unset"});
          for (const auto& row : file.rows)
            copy << std::make_tuple(static_cast<long long>(row.line), row.email, row.name,
                                    row.company, row.locale, detail::to_param(row.attributes),
                                    detail::to_param(nlohmann::json(row.unset)));
          copy.complete();
        }
        // A column the file does not have keeps the stored value (or '' for a new contact);
        // attribute cells set their key, empty ones remove it, other keys stay.
        const auto counts = w.exec_params(
            "WITH up AS ("
            "  INSERT INTO contacts AS c (tenant, email, name, company, locale, attributes)"
            "  SELECT $1, i.email,"
            "         CASE WHEN $2 THEN i.name ELSE coalesce(o.name, '') END,"
            "         CASE WHEN $3 THEN i.company ELSE coalesce(o.company, '') END,"
            "         CASE WHEN $4 THEN i.locale ELSE coalesce(o.locale, '') END,"
            "         (coalesce(o.attributes, '{}'::jsonb)"
            "            - ARRAY(SELECT jsonb_array_elements_text(i.unset))) || i.attributes"
            "    FROM contacts_import i"
            "    LEFT JOIN contacts o ON o.tenant = $1 AND o.email_key = address_key(i.email)"
            "   ORDER BY i.line" // new contacts numbered in file order: an export reads back alike
            "  ON CONFLICT (tenant, email_key) DO UPDATE"
            "    SET email = EXCLUDED.email, name = EXCLUDED.name, company = EXCLUDED.company,"
            "        locale = EXCLUDED.locale, attributes = EXCLUDED.attributes,"
            "        updated_at = now()"
            "    WHERE (c.email, c.name, c.company, c.locale, c.attributes) IS DISTINCT FROM"
            "          (EXCLUDED.email, EXCLUDED.name, EXCLUDED.company, EXCLUDED.locale,"
            "           EXCLUDED.attributes)"
            "  RETURNING (xmax = 0) AS inserted)"
            " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)"
            "   FROM up",
            tenant, file.has_name, file.has_company, file.has_locale);
        w.commit();
        return {counts[0][0].as<std::size_t>(), counts[0][1].as<std::size_t>()};
      });
  result.inserted = inserted;
  result.updated = updated;
  result.unchanged = result.rows - inserted - updated;
  return result;
}

} // namespace iaposte::store
