// Templates on the synchronous API: a new version (max + 1) with its locale variants, reads,
// the list, and the active version.
#include <set>

#include "store/codec.hpp"
#include "store/content_detail.hpp"

namespace iaposte::store {
namespace {

std::string template_label(const std::string& tenant, const std::string& name) {
  return "template " + detail::shown(name) + " of tenant " + tenant;
}

// The variants as checked and normalised (locales lower-case); throws std::invalid_argument.
std::vector<template_parts> checked_variants(const std::vector<template_parts>& given) {
  if (given.empty()) throw std::invalid_argument("a template version needs at least one variant");
  std::vector<template_parts> out;
  std::set<std::string> seen;
  for (const auto& v : given) {
    template_parts p = v;
    p.locale = detail::normal_locale(v.locale, "variant");
    const std::string where = p.locale.empty() ? "default variant" : "variant " + p.locale;
    if (!seen.insert(p.locale).second)
      throw std::invalid_argument(where + " given twice (one variant per locale)");
    detail::check_text(p.subject, where + " subject");
    detail::check_text(p.text, where + " text");
    detail::check_text(p.html, where + " html");
    detail::check_text(p.markdown, where + " markdown");
    if (p.text.empty() && p.html.empty() && p.markdown.empty())
      throw std::invalid_argument(where + " has no body (text, html or markdown)");
    out.push_back(std::move(p));
  }
  return out;
}

// "" for nullopt: the statements read it as NULL (unchanged).
std::string flag_param(std::optional<bool> b) {
  return b ? (*b ? "true" : "false") : "";
}

} // namespace

int content_store::put_template(const template_put& t, const template_validator& validate) {
  detail::check_tenant(t.tenant);
  detail::check_template_name(t.name);
  const std::vector<template_parts> variants = checked_variants(t.variants);
  return impl_->run([&](pqxx::connection& c) {
    pqxx::work w(c);
    // Creates the template or locks its row: two puts of one template take turns, so that
    // each gets its own max + 1.
    const auto head =
        w.exec_params("INSERT INTO templates AS t (tenant, name, strict, allow_raw_html) "
                      "VALUES ($1, $2, coalesce(nullif($3, '')::boolean, false), "
                      "        coalesce(nullif($4, '')::boolean, false)) "
                      "ON CONFLICT (tenant, name) DO UPDATE SET "
                      "  strict = coalesce(nullif($3, '')::boolean, t.strict), "
                      "  allow_raw_html = coalesce(nullif($4, '')::boolean, t.allow_raw_html), "
                      "  updated_at = now() "
                      "RETURNING strict, allow_raw_html, active_version",
                      t.tenant, t.name, flag_param(t.strict), flag_param(t.allow_raw_html));
    const template_flags flags{head[0]["strict"].as<bool>(), head[0]["allow_raw_html"].as<bool>()};
    if (validate)
      for (const auto& v : variants) {
        const std::string error = validate(v, flags);
        if (!error.empty())
          throw std::invalid_argument(
              (v.locale.empty() ? "default variant" : "variant " + v.locale) + ": " + error);
      }
    const int version = w.exec_params("SELECT coalesce(max(version), 0) + 1 FROM template_versions "
                                      "WHERE tenant = $1 AND name = $2",
                                      t.tenant, t.name)[0][0]
                            .as<int>();
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& v : variants)
      rows.push_back({{"locale", v.locale},
                      {"subject", v.subject},
                      {"text", v.text},
                      {"html", v.html},
                      {"markdown", v.markdown}});
    w.exec_params("INSERT INTO template_versions "
                  "  (tenant, name, version, locale, subject, text, html, markdown) "
                  "SELECT $1, $2, $3, locale, subject, text, html, markdown "
                  "FROM jsonb_to_recordset($4::jsonb) AS x(locale text, subject text, text text, "
                  "                                       html text, markdown text)",
                  t.tenant, t.name, version, detail::to_param(rows));
    if (t.activate || head[0]["active_version"].is_null())
      w.exec_params("UPDATE templates SET active_version = $3, updated_at = now() "
                    "WHERE tenant = $1 AND name = $2",
                    t.tenant, t.name, version);
    w.commit();
    return version;
  });
}

template_version content_store::get_template(const std::string& tenant, const std::string& name,
                                             std::optional<int> version) {
  detail::check_tenant(tenant);
  detail::check_template_name(name);
  return impl_->run([&](pqxx::connection& c) {
    pqxx::read_transaction r(c);
    const auto head = r.exec_params("SELECT active_version, strict, allow_raw_html FROM templates "
                                    "WHERE tenant = $1 AND name = $2",
                                    tenant, name);
    if (head.empty()) throw not_found("unknown " + template_label(tenant, name));
    template_version out;
    out.tenant = tenant;
    out.name = name;
    out.active_version =
        head[0]["active_version"].is_null() ? 0 : head[0]["active_version"].as<int>();
    out.flags = {head[0]["strict"].as<bool>(), head[0]["allow_raw_html"].as<bool>()};
    out.version = version.value_or(out.active_version);
    const auto rows =
        r.exec_params("SELECT locale, subject, text, html, markdown, " IAPOSTE_SQL_US(
                          "created_at") " AS c_us "
                                        "FROM template_versions WHERE tenant = $1 AND name = $2 "
                                        "AND version = $3 ORDER BY locale",
                      tenant, name, out.version);
    if (rows.empty()) {
      const auto latest = r.exec_params("SELECT coalesce(max(version), 0) FROM template_versions "
                                        "WHERE tenant = $1 AND name = $2",
                                        tenant, name)[0][0]
                              .as<int>();
      throw not_found("unknown version " + std::to_string(out.version) + " of " +
                      template_label(tenant, name) + " (versions 1 to " + std::to_string(latest) +
                      ")");
    }
    for (const auto& row : rows)
      out.variants.push_back({detail::field_text(row["locale"]), detail::field_text(row["subject"]),
                              detail::field_text(row["text"]), detail::field_text(row["html"]),
                              detail::field_text(row["markdown"])});
    out.created_at = detail::field_time_us(rows[0]["c_us"]);
    return out;
  });
}

std::vector<template_info> content_store::list_templates(const std::string& tenant) {
  detail::check_tenant(tenant);
  return impl_->run([&](pqxx::connection& c) {
    pqxx::read_transaction r(c);
    // Locales are [a-z0-9-]: a comma separates them safely.
    const auto res = r.exec_params(
        "SELECT t.name, coalesce(t.active_version, 0) AS active, t.strict, t.allow_raw_html, "
        "  " IAPOSTE_SQL_US("t.created_at") " AS c_us, " IAPOSTE_SQL_US(
            "t.updated_at") " AS u_us, "
                            "  (SELECT coalesce(max(v.version), 0) FROM template_versions v "
                            "    WHERE v.tenant = t.tenant AND v.name = t.name) AS latest, "
                            "  (SELECT coalesce(string_agg(v.locale, ',' ORDER BY v.locale), '') "
                            "     FROM template_versions v WHERE v.tenant = t.tenant AND v.name = "
                            "t.name "
                            "      AND v.version = t.active_version) AS locales, "
                            "  (SELECT count(*) FROM template_versions v WHERE v.tenant = t.tenant "
                            "      AND v.name = t.name AND v.version = t.active_version) AS "
                            "n_locales "
                            "FROM templates t WHERE t.tenant = $1 ORDER BY t.name",
        tenant);
    std::vector<template_info> out;
    for (const auto& row : res) {
      template_info info;
      info.name = detail::field_text(row["name"]);
      info.active_version = row["active"].as<int>();
      info.latest_version = row["latest"].as<int>();
      info.flags = {row["strict"].as<bool>(), row["allow_raw_html"].as<bool>()};
      // string_agg gives "" both for no variant and for the default alone: the count tells.
      const std::string locales = detail::field_text(row["locales"]);
      const auto n = row["n_locales"].as<long long>();
      std::size_t start = 0;
      for (long long i = 0; i < n; ++i) {
        const auto comma = locales.find(',', start);
        info.locales.push_back(
            locales.substr(start, comma == std::string::npos ? comma : comma - start));
        start = comma == std::string::npos ? locales.size() : comma + 1;
      }
      info.created_at = detail::field_time_us(row["c_us"]);
      info.updated_at = detail::field_time_us(row["u_us"]);
      out.push_back(std::move(info));
    }
    return out;
  });
}

void content_store::activate_template(const std::string& tenant, const std::string& name,
                                      int version) {
  detail::check_tenant(tenant);
  detail::check_template_name(name);
  impl_->run([&](pqxx::connection& c) {
    pqxx::work w(c);
    const auto res = w.exec_params(
        "UPDATE templates t SET active_version = $3, updated_at = now() "
        "WHERE tenant = $1 AND name = $2 AND EXISTS (SELECT 1 FROM template_versions v "
        "  WHERE v.tenant = t.tenant AND v.name = t.name AND v.version = $3)",
        tenant, name, version);
    if (res.affected_rows() == 0) {
      const auto latest =
          w.exec_params("SELECT (SELECT coalesce(max(version), 0) FROM template_versions "
                        "         WHERE tenant = $1 AND name = $2), "
                        "       EXISTS (SELECT 1 FROM templates WHERE tenant = $1 AND name = $2)",
                        tenant, name);
      if (!latest[0][1].as<bool>()) throw not_found("unknown " + template_label(tenant, name));
      throw not_found("unknown version " + std::to_string(version) + " of " +
                      template_label(tenant, name) + " (versions 1 to " +
                      std::to_string(latest[0][0].as<int>()) + ")");
    }
    w.commit();
  });
}

} // namespace iaposte::store
