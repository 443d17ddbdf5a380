// The contacts CSV file (docs/CONTENT.md): reading it into checked rows, each error with its
// line, and writing contacts in the same format. No PostgreSQL here (fuzz target).
#include "store/contacts_csv.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "core/request.hpp"
#include "csv/csv.hpp"
#include "store/content_checks.hpp"

namespace iaposte::store {
namespace {

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// The index of a known column, or nullopt for an attribute.
std::optional<std::size_t> known_column(std::string_view name) {
  const std::string lower = lower_ascii(trim(name));
  for (std::size_t i = 0; i < std::size(contact_columns); ++i)
    if (lower == contact_columns[i]) return i;
  return std::nullopt;
}

enum column_kind { email_col, name_col, company_col, locale_col, attribute_col };

class reader {
public:
  reader(contacts_file& out, std::size_t max_errors) : out_(out), max_errors_(max_errors) {}

  void error(std::size_t line, std::string message) {
    ++out_.error_count;
    if (out_.errors.size() < max_errors_) out_.errors.push_back({line, std::move(message)});
  }

  void record(csv::record&& r) {
    if (!header_seen_) {
      header_seen_ = true;
      header(r);
      return;
    }
    if (!header_ok_) return;
    row(std::move(r));
  }

  void parse_error(csv::error&& e) {
    // A header that cannot be read is no header: the rows are not checked against it.
    header_seen_ = true;
    error(e.line, std::move(e.message));
  }

  void finish() {
    if (!header_seen_)
      error(1, "empty file: a header row is required (email,name,company,locale, then any "
               "attribute columns)");
  }

private:
  void header(const csv::record& r) {
    std::vector<std::string> seen;
    bool has_email = false;
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
      const std::string& f = r.fields[i];
      const std::string where = "header column " + std::to_string(i + 1);
      if (!csv::valid_utf8(f)) {
        error(r.line, where + ": not valid UTF-8 (or holds a NUL byte)");
        return;
      }
      if (auto k = known_column(f)) {
        kinds_.push_back(static_cast<column_kind>(*k));
        const std::string name = contact_columns[*k];
        for (const auto& s : seen)
          if (s == name) {
            error(r.line, where + ": column " + name + " given twice");
            return;
          }
        seen.push_back(name);
        has_email = has_email || *k == email_col;
        out_.has_name = out_.has_name || *k == name_col;
        out_.has_company = out_.has_company || *k == company_col;
        out_.has_locale = out_.has_locale || *k == locale_col;
        continue;
      }
      try {
        check_attribute_name(f);
      } catch (const std::invalid_argument& e) {
        error(r.line, where + ": " + e.what());
        return;
      }
      for (const auto& s : seen)
        if (s == f) {
          error(r.line, where + ": column " + detail::shown(f) + " given twice");
          return;
        }
      seen.push_back(f);
      kinds_.push_back(attribute_col);
      out_.attribute_columns.push_back(f);
    }
    if (!has_email) {
      error(r.line, "the header row has no email column (expected email,name,company,locale, "
                    "then any attribute columns)");
      return;
    }
    header_ok_ = true;
  }

  void row(csv::record&& r) {
    if (r.fields.size() != kinds_.size()) {
      error(r.line, std::to_string(r.fields.size()) + " field" + (r.fields.size() == 1 ? "" : "s") +
                        ", the header has " + std::to_string(kinds_.size()));
      return;
    }
    contact_row c;
    c.line = r.line;
    std::size_t attribute = 0;
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
      std::string& f = r.fields[i];
      const std::string& column =
          kinds_[i] == attribute_col ? out_.attribute_columns[attribute] : column_names_[kinds_[i]];
      if (!csv::valid_utf8(f)) {
        error(r.line, "column " + column + ": not valid UTF-8 (or holds a NUL byte)");
        return;
      }
      switch (kinds_[i]) {
      case email_col:
        c.email = std::string(trim(f));
        break;
      case name_col:
        c.name = std::move(f);
        break;
      case company_col:
        c.company = std::move(f);
        break;
      case locale_col:
        try {
          c.locale = detail::normal_locale(trim(f), "column locale");
        } catch (const std::invalid_argument& e) {
          error(r.line, e.what());
          return;
        }
        break;
      case attribute_col:
        if (f.empty())
          c.unset.push_back(column);
        else
          c.attributes[column] = std::move(f);
        ++attribute;
        break;
      }
    }
    if (c.email.empty()) {
      error(r.line, "email is empty");
      return;
    }
    if (!core::valid_email(c.email)) {
      error(r.line, "invalid email address " + detail::shown(c.email));
      return;
    }
    const auto [it, added] = first_line_.emplace(address_key(c.email), r.line);
    if (!added) {
      error(r.line, "duplicate email " + detail::shown(c.email) + " (first on line " +
                        std::to_string(it->second) + ")");
      return;
    }
    out_.rows.push_back(std::move(c));
  }

  contacts_file& out_;
  std::size_t max_errors_;
  bool header_seen_ = false, header_ok_ = false;
  std::vector<column_kind> kinds_;
  const std::vector<std::string> column_names_{std::begin(contact_columns),
                                               std::end(contact_columns)};
  std::unordered_map<std::string, std::size_t> first_line_; // address_key -> line
};

} // namespace

void check_attribute_name(std::string_view name) {
  if (name.empty()) throw std::invalid_argument("attribute name is empty");
  if (!csv::valid_utf8(name))
    throw std::invalid_argument("attribute name is not valid UTF-8 (or holds a NUL byte)");
  if (trim(name).size() != name.size())
    throw std::invalid_argument("attribute name " + detail::shown(name) +
                                " starts or ends with a space");
  if (known_column(name))
    throw std::invalid_argument("attribute name " + detail::shown(name) +
                                " is taken by a contact column");
}

contacts_file read_contacts_csv(std::string_view text, std::size_t max_errors) {
  contacts_file out;
  reader r(out, max_errors);
  csv::read(
      text, [&](csv::record&& rec) { r.record(std::move(rec)); },
      [&](csv::error&& e) { r.parse_error(std::move(e)); });
  r.finish();
  if (out.error_count > 0) out.rows.clear();
  // Errors come from one pass in line order, except that a parse error is reported when the
  // reader meets it: keep them sorted for the reader of the report.
  std::stable_sort(out.errors.begin(), out.errors.end(),
                   [](const import_error& a, const import_error& b) { return a.line < b.line; });
  return out;
}

std::string contacts_csv_header(const std::vector<std::string>& attribute_columns) {
  std::vector<std::string> fields(std::begin(contact_columns), std::end(contact_columns));
  fields.insert(fields.end(), attribute_columns.begin(), attribute_columns.end());
  std::string out;
  csv::write_row(out, fields);
  return out;
}

std::string contacts_csv_row(const contact& c, const std::vector<std::string>& attribute_columns) {
  std::vector<std::string> fields{c.email, c.name, c.company, c.locale};
  for (const auto& name : attribute_columns) {
    const auto it = c.attributes.is_object() ? c.attributes.find(name) : c.attributes.end();
    if (!c.attributes.is_object() || it == c.attributes.end() || it->is_null())
      fields.emplace_back();
    else if (it->is_string())
      fields.push_back(it->get<std::string>());
    else
      fields.push_back(it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  std::string out;
  csv::write_row(out, fields);
  return out;
}

} // namespace iaposte::store
