// The contacts CSV file (docs/CONTENT.md): reading it into checked rows, each error with its
// line, and writing contacts in the same format. No PostgreSQL here (fuzz target).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/content.hpp"

namespace iaposte::store {

// The columns every file may have; any other column is an attribute.
inline constexpr const char* contact_columns[] = {"email", "name", "company", "locale"};

struct contact_row {
  std::size_t line = 0;
  std::string email, name, company, locale;             // locale normalised (lower-case)
  nlohmann::json attributes = nlohmann::json::object(); // the non-empty attribute cells
  std::vector<std::string> unset;                       // attribute columns left empty
};

struct contacts_file {
  // Which of the optional columns the header has: a column the file does not have leaves
  // the stored value alone.
  bool has_name = false, has_company = false, has_locale = false;
  std::vector<std::string> attribute_columns;
  std::vector<contact_row> rows;
  std::vector<import_error> errors; // at most max_errors, in line order
  std::size_t error_count = 0;
};

// Reads and checks the whole file: RFC 4180 (csv::read), UTF-8, a header row naming an
// email column, the same number of fields on every row, a valid email on each (spaces
// around it dropped), no email twice (by address_key), valid locales.
contacts_file read_contacts_csv(std::string_view text, std::size_t max_errors = 1000);

// An attribute name the CSV format can carry: not empty, UTF-8, no spaces at either end,
// not one of contact_columns (in any case). Throws std::invalid_argument.
void check_attribute_name(std::string_view name);

// The header row and one contact's row, each ending in CRLF. An attribute that is a string
// is written as is, another JSON value as its JSON text, an absent one as an empty field.
std::string contacts_csv_header(const std::vector<std::string>& attribute_columns);
std::string contacts_csv_row(const contact& c, const std::vector<std::string>& attribute_columns);

} // namespace iaposte::store
