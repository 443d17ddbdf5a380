// libFuzzer target for the CSV reader (lib/csv) and the contacts file read on it
// (lib/store/contacts_csv): arbitrary bytes as an uploaded contacts file.
//
// Checked beyond "no crash, no sanitizer report":
//  - records come in line order, each on a line the text has, and so do errors;
//  - whatever was read, written back by csv::write_row, reads back to the same fields with no
//    error (the writer quotes all that needs it);
//  - a contacts file either has errors and no rows, or rows and no errors; every row has a
//    valid email, no two rows the same address_key, a lower-case locale, only non-empty
//    attribute values, and no more kept errors than asked;
//  - the export round trip: the rows written by contacts_csv_header/contacts_csv_row read
//    back to the same rows (email, name, company, locale, attributes).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/request.hpp"
#include "csv/csv.hpp"
#include "store/contacts_csv.hpp"

using namespace iaposte;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_csv: property broken: %s\n", what);
  std::abort();
}
#define EXPECT(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) fail(#cond);                                                                      \
  } while (0)

std::size_t lines_in(std::string_view text) {
  std::size_t n = 1;
  for (char c : text)
    n += c == '\n';
  return n;
}

void check_reader(std::string_view text) {
  std::vector<csv::record> records;
  std::vector<csv::error> errors;
  csv::read(
      text, [&](csv::record&& r) { records.push_back(std::move(r)); },
      [&](csv::error&& e) { errors.push_back(std::move(e)); });
  const std::size_t lines = lines_in(text);
  std::size_t last = 0;
  for (const auto& r : records) {
    EXPECT(r.line >= 1 && r.line <= lines);
    EXPECT(r.line >= last);
    EXPECT(!r.fields.empty());
    last = r.line;
  }
  for (const auto& e : errors) {
    EXPECT(e.line >= 1 && e.line <= lines);
    EXPECT(!e.message.empty());
  }

  std::string written;
  for (const auto& r : records)
    csv::write_row(written, r.fields);
  std::vector<csv::record> again;
  bool error = false;
  csv::read(
      written, [&](csv::record&& r) { again.push_back(std::move(r)); },
      [&](csv::error&&) { error = true; });
  EXPECT(!error);
  // A record of one empty field is a blank line once written: the reader skips those.
  std::size_t j = 0;
  for (const auto& r : records) {
    if (r.fields.size() == 1 && r.fields[0].empty()) continue;
    EXPECT(j < again.size());
    EXPECT(again[j].fields == r.fields);
    ++j;
  }
  EXPECT(j == again.size());
}

void check_contacts(std::string_view text) {
  constexpr std::size_t max_errors = 5;
  const store::contacts_file f = store::read_contacts_csv(text, max_errors);
  EXPECT(f.errors.size() <= max_errors);
  EXPECT(f.errors.size() <= f.error_count);
  EXPECT(f.error_count == 0 || f.rows.empty());
  EXPECT(f.error_count > 0 || f.errors.empty());
  std::set<std::string> keys;
  for (const auto& r : f.rows) {
    EXPECT(core::valid_email(r.email));
    EXPECT(keys.insert(store::address_key(r.email)).second);
    for (char c : r.locale)
      EXPECT(!(c >= 'A' && c <= 'Z'));
    EXPECT(r.attributes.is_object());
    for (const auto& [k, v] : r.attributes.items())
      EXPECT(v.is_string() && !v.get<std::string>().empty());
    EXPECT(r.attributes.size() + r.unset.size() == f.attribute_columns.size());
    EXPECT(csv::valid_utf8(r.name) && csv::valid_utf8(r.company));
  }
  if (f.rows.empty()) return;

  std::string exported = store::contacts_csv_header(f.attribute_columns);
  for (const auto& r : f.rows) {
    store::contact c;
    c.email = r.email;
    c.name = r.name;
    c.company = r.company;
    c.locale = r.locale;
    c.attributes = r.attributes;
    exported += store::contacts_csv_row(c, f.attribute_columns);
  }
  const store::contacts_file back = store::read_contacts_csv(exported);
  EXPECT(back.error_count == 0);
  EXPECT(back.rows.size() == f.rows.size());
  EXPECT(back.attribute_columns == f.attribute_columns);
  for (std::size_t i = 0; i < f.rows.size(); ++i) {
    EXPECT(back.rows[i].email == f.rows[i].email);
    EXPECT(back.rows[i].name == f.rows[i].name);
    EXPECT(back.rows[i].company == f.rows[i].company);
    EXPECT(back.rows[i].locale == f.rows[i].locale);
    EXPECT(back.rows[i].attributes == f.rows[i].attributes);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_reader(text);
  check_contacts(text);
  return 0;
}
