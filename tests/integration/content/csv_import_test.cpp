// The contacts CSV against PostgreSQL: import (all or nothing, errors by line), the 100,000-row
// import timed, quoting, BOM and line ends, partial columns, and export -> import round trips.
#include <doctest/doctest.h>

#include <chrono>
#include <sstream>

#include "store/contacts_csv.hpp"
#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_content_csv_import_test {

using namespace iaposte;
using namespace iaposte::testing;

namespace {

std::string export_of(store::content_store& s, const std::string& tenant) {
  std::ostringstream out;
  s.export_contacts(tenant, out);
  return out.str();
}

} // namespace

TEST_CASE("contacts CSV: quoted commas, doubled quotes, newlines in quotes, a BOM, CRLF, spaces "
          "around an email, an empty attribute") {
  content_database db;
  store::content_store s(db.url());
  const auto r = s.import_contacts("acme", test_data("contacts/01-valid.csv"));
  CHECK(r.error_count == 0);
  CHECK(r.rows == 4);
  CHECK(r.inserted == 4);
  const auto helene = s.find_contact("acme", "helene.dubois@exemple.fr");
  REQUIRE(helene);
  CHECK(helene->name == "Hélène Dubois");
  CHECK(helene->company == "Boulangerie Dubois, père et fils");
  CHECK(helene->locale == "fr");
  CHECK(helene->attributes == nlohmann::json{{"segment", "vip"}, {"ville", "Lyon"}});
  const auto jean = s.find_contact("acme", "jean@exemple.fr");
  REQUIRE(jean);
  CHECK(jean->email == "jean@EXEMPLE.FR");
  CHECK(jean->name == "Jean \"Jeannot\" Martin");
  CHECK(jean->locale == "fr-ca");
  CHECK(jean->attributes == nlohmann::json{{"ville", "Québec"}}); // empty segment: absent
  const auto marie = s.find_contact("acme", "marie@exemple.fr");
  REQUIRE(marie);
  CHECK(marie->company == "Atelier\r\nsur deux lignes");
  const auto paul = s.find_contact("acme", "paul@exemple.fr");
  REQUIRE(paul);
  CHECK(paul->name == " Paul "); // spaces are data (RFC 4180 §2.4), except around the email
  CHECK(paul->locale == "en-gb");
}

TEST_CASE("contacts CSV: every bad row is reported with its line, and nothing is imported") {
  content_database db;
  store::content_store s(db.url());
  store::contact before;
  before.tenant = "acme";
  before.email = "before@exemple.fr";
  s.upsert_contact(before);
  const auto r = s.import_contacts("acme", test_data("contacts/02-errors.csv"));
  std::vector<std::pair<std::size_t, std::string>> got;
  for (const auto& e : r.errors)
    got.emplace_back(e.line, e.message);
  const std::vector<std::pair<std::size_t, std::string>> expected = {
      {3, "invalid email address 'pas-une-adresse'"},
      {4, "6 fields, the header has 5"},
      {6, "duplicate email 'ok@EXEMPLE.fr' (first on line 2)"},
      {7, "column name: not valid UTF-8 (or holds a NUL byte)"},
      {8, "column locale: invalid locale 'not a locale' (expected a language tag such as fr or "
          "fr-CA)"},
      {9, "email is empty"},
      {10, "malformed quoting: a quote inside an unquoted field, or something other than a comma "
           "or a line end after a closing quote"},
      {11, "unterminated quoted field: the closing quote is missing"},
  };
  CHECK(got == expected);
  CHECK(r.error_count == expected.size());
  CHECK(r.inserted == 0);
  // OK@exemple.FR (line 5) is another mailbox than ok@exemple.fr: no error. Nothing stored.
  CHECK(db.count("SELECT count(*) FROM contacts") == 1);

  // One bad row among good ones is enough to import none of them.
  const auto one_bad = s.import_contacts(
      "acme", "email,name\r\ngood1@exemple.fr,A\r\nbad,B\r\ngood2@exemple.fr,C\r\n");
  REQUIRE(one_bad.errors.size() == 1);
  CHECK(one_bad.errors[0].line == 3);
  CHECK(db.count("SELECT count(*) FROM contacts") == 1);
}

TEST_CASE("contacts CSV: header errors, an empty file, and the kept-errors limit") {
  content_database db;
  store::content_store s(db.url());
  auto first_error = [&](const std::string& text) {
    const auto r = s.import_contacts("acme", text);
    REQUIRE(r.error_count >= 1);
    return std::to_string(r.errors[0].line) + ": " + r.errors[0].message;
  };
  CHECK(first_error(test_data("contacts/03-no-email-column.csv"))
            .find("1: the header row has no "
                  "email column") == 0);
  CHECK(first_error(test_data("contacts/05-duplicate-header.csv")) ==
        "1: header column 3: column name given twice");
  CHECK(first_error("").find("1: empty file: a header row is required") == 0);
  CHECK(first_error("\r\n\r\n").find("1: empty file") == 0);
  CHECK(first_error("email,\r\na@b.fr,x\r\n") == "1: header column 2: attribute name is empty");

  std::string many = "email\r\n";
  for (int i = 0; i < 50; ++i)
    many += "bad" + std::to_string(i) + "\r\n";
  const auto r = s.import_contacts("acme", many, 20);
  CHECK(r.error_count == 50);
  CHECK(r.errors.size() == 20);
  CHECK(r.errors.front().line == 2);
  CHECK(r.errors.back().line == 21);
  CHECK(db.count("SELECT count(*) FROM contacts") == 0);
}

TEST_CASE("contacts CSV: a file without some columns keeps the stored values; an empty "
          "attribute cell removes that attribute only") {
  content_database db;
  store::content_store s(db.url());
  REQUIRE(s.import_contacts("acme", "email,name,company,locale,segment,ville\r\n"
                                    "a@exemple.fr,Alice,Acme,fr,vip,Lyon\r\n")
              .inserted == 1);
  const auto r = s.import_contacts("acme", "email,segment\r\n"
                                           "a@EXEMPLE.FR,\r\n"
                                           "new@exemple.fr,standard\r\n");
  CHECK(r.error_count == 0);
  CHECK(r.inserted == 1);
  CHECK(r.updated == 1);
  const auto alice = s.find_contact("acme", "a@exemple.fr");
  REQUIRE(alice);
  CHECK(alice->email == "a@EXEMPLE.FR");
  CHECK(alice->name == "Alice");
  CHECK(alice->company == "Acme");
  CHECK(alice->locale == "fr");
  CHECK(alice->attributes == nlohmann::json{{"ville", "Lyon"}});
  const auto fresh = s.find_contact("acme", "new@exemple.fr");
  REQUIRE(fresh);
  CHECK(fresh->name == "");
  CHECK(fresh->attributes == nlohmann::json{{"segment", "standard"}});
  // The local part is not case-folded: A@exemple.fr is a new contact.
  CHECK(s.import_contacts("acme", "email\r\nA@exemple.fr\r\n").inserted == 1);
}

TEST_CASE("contacts CSV: export then import gives the same rows; importing the same file again "
          "changes nothing") {
  content_database db;
  store::content_store s(db.url());
  REQUIRE(s.import_contacts("acme", test_data("contacts/01-valid.csv")).inserted == 4);
  store::contact extra;
  extra.tenant = "acme";
  extra.email = "json@exemple.fr";
  extra.name = "Line\nbreak, \"quoted\"";
  extra.attributes = {{"note", " spaced "}, {"ville", "Paris"}};
  s.upsert_contact(extra);
  const std::string exported = export_of(s, "acme");
  CHECK(exported.rfind("email,name,company,locale,note,segment,ville\r\n", 0) == 0);

  const auto copy = s.import_contacts("copy", exported);
  CHECK(copy.error_count == 0);
  CHECK(copy.inserted == 5);
  CHECK(export_of(s, "copy") == exported);

  const auto again = s.import_contacts("copy", exported);
  CHECK(again.inserted == 0);
  CHECK(again.updated == 0);
  CHECK(again.unchanged == 5);
  CHECK(export_of(s, "copy") == exported);
  CHECK(export_of(s, "empty") == "email,name,company,locale\r\n");
}

TEST_CASE("contacts CSV: 100,000 rows import in one transaction (time reported), then update "
          "in place, and export back") {
  content_database db;
  store::content_store s(db.url());
  constexpr int n = 100000;
  // Row i; with `changed`, one row in ten gets another segment.
  auto file = [&](bool changed) {
    std::string text = "email,name,company,locale,segment,ville\r\n";
    text.reserve(n * 90);
    for (int i = 0; i < n; ++i)
      text += "client" + std::to_string(i) + "@Exemple" + std::to_string(i % 97) + ".fr,Client " +
              std::to_string(i) + ",\"Entreprise " + std::to_string(i % 1000) + ", SARL\"," +
              (i % 3 ? "fr" : "en") + "," +
              (changed && i % 10 == 0 ? "premium"
               : i % 5                ? "standard"
                                      : "vip") +
              ",Ville " + std::to_string(i % 300) + "\r\n";
    return text;
  };
  const std::string text = file(false);
  auto started = std::chrono::steady_clock::now();
  const auto r = s.import_contacts("bulk", text);
  const double first_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  REQUIRE(r.error_count == 0);
  CHECK(r.inserted == n);
  CHECK(db.count("SELECT count(*) FROM contacts WHERE tenant = 'bulk'") == n);

  const std::string changed = file(true);
  started = std::chrono::steady_clock::now();
  const auto r2 = s.import_contacts("bulk", changed);
  const double second_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  REQUIRE(r2.error_count == 0);
  CHECK(r2.inserted == 0);
  CHECK(r2.updated == n / 10);
  CHECK(r2.unchanged == n - n / 10);
  CHECK(db.count("SELECT count(*) FROM contacts WHERE tenant = 'bulk' AND "
                 "attributes->>'segment' = 'premium'") == n / 10);

  started = std::chrono::steady_clock::now();
  const std::string exported = export_of(s, "bulk");
  const double export_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::size_t lines = 0;
  for (char c : exported)
    lines += c == '\n';
  CHECK(lines == n + 1);
  MESSAGE("contacts CSV, " << n << " rows (" << text.size() / 1024 << " KiB): import " << first_s
                           << " s (all inserted), re-import " << second_s << " s (" << r2.updated
                           << " updated, " << r2.unchanged << " unchanged), export " << export_s
                           << " s");
}

TEST_CASE("contacts CSV read without PostgreSQL: rows and columns as the file gives them") {
  const auto f = store::read_contacts_csv("Email , NAME,segment\r\nx@exemple.fr,X,\r\n");
  CHECK(f.error_count == 0);
  CHECK(f.has_name);
  CHECK_FALSE(f.has_company);
  CHECK(f.attribute_columns == std::vector<std::string>{"segment"});
  REQUIRE(f.rows.size() == 1);
  CHECK(f.rows[0].unset == std::vector<std::string>{"segment"});
  CHECK(f.rows[0].line == 2);
  store::contact c;
  c.email = "x@exemple.fr";
  c.attributes = {{"n", 42}, {"s", "text"}, {"b", true}};
  CHECK(store::contacts_csv_row(c, {"b", "missing", "n", "s"}) ==
        "x@exemple.fr,,,,true,,42,text\r\n");
}

} // namespace test_integration_content_csv_import_test
