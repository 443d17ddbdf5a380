// The iaposte content commands (template, contacts, signature, suppress) against a real
// PostgreSQL: output, exit codes (0 done, 1 not found / bad file / unreachable, 2 usage).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_integration_content_cli_test {

using namespace iaposte;
using namespace iaposte::testing;
using nlohmann::json;

namespace {

// The first JSON value of the output.
json first_json(const cli_result& r) {
  const auto line_end = r.out.find('\n');
  json j = json::parse(r.out, nullptr, false);
  if (j.is_discarded()) j = json::parse(r.out.substr(0, line_end), nullptr, false);
  return j;
}

std::vector<json> json_lines(const std::string& out) {
  std::vector<json> lines;
  std::size_t start = 0;
  while (start < out.size()) {
    const auto end = out.find('\n', start);
    lines.push_back(json::parse(out.substr(start, end - start)));
    start = end == std::string::npos ? out.size() : end + 1;
  }
  return lines;
}

} // namespace

TEST_CASE("iaposte template put|get|list|activate") {
  content_database db;
  const auto& url = db.url();
  temp_file text("Bonjour {{nom}},\nmerci.\n"), html("<p>Bonjour {{nom}}</p>");
  auto r = run_cli({"template", "put", "--tenant", "acme", "--name", "bienvenue", "--subject",
                    "Bienvenue {{nom}}", "--text-file", text.path(), "--html-file", html.path(),
                    "--strict"},
                   url);
  REQUIRE_MESSAGE(r.rc == 0, r.err);
  CHECK(first_json(r) ==
        json{{"tenant", "acme"}, {"name", "bienvenue"}, {"version", 1}, {"active_version", 1}});

  temp_file doc(R"({"allow_raw_html": true, "variants": [
      {"locale": "", "subject": "Welcome", "text": "Hello"},
      {"locale": "fr", "subject": "Bienvenue", "text": "Bonjour", "html": "<p>Bonjour</p>"},
      {"locale": "fr-CA", "subject": "Bienvenue!", "markdown": "**Allô**"}]})",
                ".json");
  r = run_cli({"template", "put", "--tenant", "acme", "--name", "bienvenue", "--file", doc.path()},
              url);
  REQUIRE_MESSAGE(r.rc == 0, r.err);
  CHECK(first_json(r)["version"] == 2);
  CHECK(first_json(r)["active_version"] == 1);

  r = run_cli({"template", "get", "--tenant", "acme", "--name", "bienvenue"}, url);
  REQUIRE_MESSAGE(r.rc == 0, r.err);
  json v = first_json(r);
  CHECK(v["version"] == 1);
  CHECK(v["strict"] == true);
  CHECK(v["allow_raw_html"] == true); // set by the second put, for the template
  REQUIRE(v["variants"].size() == 1);
  CHECK(v["variants"][0]["text"] == "Bonjour {{nom}},\nmerci.\n");

  r = run_cli({"template", "get", "--tenant", "acme", "--name", "bienvenue", "--version", "2",
               "--locale", "fr-BE"},
              url);
  REQUIRE_MESSAGE(r.rc == 0, r.err);
  v = first_json(r);
  REQUIRE(v["variants"].size() == 1);
  CHECK(v["variants"][0]["locale"] == "fr");

  // What get prints, put --file takes back: a new version with the same variants.
  r = run_cli({"template", "get", "--tenant", "acme", "--name", "bienvenue", "--version", "2"},
              url);
  REQUIRE(r.rc == 0);
  temp_file again(r.out, ".json");
  r = run_cli({"template", "put", "--tenant", "acme", "--name", "bienvenue", "--file", again.path(),
               "--activate"},
              url);
  REQUIRE_MESSAGE(r.rc == 0, r.err);
  CHECK(first_json(r)["active_version"] == 3);
  r = run_cli({"template", "get", "--tenant", "acme", "--name", "bienvenue"}, url);
  CHECK(first_json(r)["variants"].size() == 3);

  r = run_cli({"template", "activate", "--tenant", "acme", "--name", "bienvenue", "--version", "1"},
              url);
  CHECK_MESSAGE(r.rc == 0, r.err);
  r = run_cli({"template", "list", "--tenant", "acme"}, url);
  REQUIRE(r.rc == 0);
  const auto list = json_lines(r.out);
  REQUIRE(list.size() == 1);
  CHECK(list[0]["name"] == "bienvenue");
  CHECK(list[0]["active_version"] == 1);
  CHECK(list[0]["latest_version"] == 3);
  CHECK(run_cli({"template", "list", "--tenant", "vide"}, url).out.empty());

  // Not found: 1, with the reason.
  r = run_cli({"template", "get", "--tenant", "acme", "--name", "inconnu"}, url);
  CHECK(r.rc == 1);
  CHECK(r.err.find("unknown template 'inconnu'") != std::string::npos);
  r = run_cli({"template", "get", "--tenant", "acme", "--name", "bienvenue", "--version", "9"},
              url);
  CHECK(r.rc == 1);
  CHECK(r.err.find("unknown version 9") != std::string::npos);
  CHECK(
      run_cli({"template", "activate", "--tenant", "acme", "--name", "bienvenue", "--version", "9"},
              url)
          .rc == 1);
  r = run_cli({"template", "get", "--tenant", "acme", "--name", "bienvenue", "--locale", "de"},
              url);
  CHECK(r.rc == 0); // version 1 has a default variant

  // Usage: 2, and nothing stored.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"template"},
           {"template", "frobnicate", "--tenant", "acme"},
           {"template", "put", "--tenant", "acme", "--name", "x"},
           {"template", "put", "--name", "x", "--text-file", text.path()},
           {"template", "put", "--tenant", "acme", "--name", "x", "--text-file", "/nonexistent"},
           {"template", "put", "--tenant", "acme", "--name", "x", "--text-file", text.path(),
            "--strict", "--lenient"},
           {"template", "put", "--tenant", "acme", "--name", "x", "--file", doc.path(), "--subject",
            "s"},
           {"template", "put", "--tenant", "acme", "--name", "x", "--file", text.path()},
           {"template", "put", "--tenant", "acme", "--name", "bad name", "--text-file",
            text.path()},
           {"template", "get", "--tenant", "acme", "--name", "x", "--version", "zero"},
           {"template", "get", "--tenant", "acme", "--name", "x", "--version"},
           {"template", "get", "--tenant", "acme", "--name", "x", "extra"},
           {"template", "activate", "--tenant", "acme", "--name", "x"},
       }) {
    CAPTURE(args);
    r = run_cli(args, url);
    CHECK(r.rc == 2);
    CHECK_FALSE(r.err.empty());
  }
  r = run_cli({"template", "put", "--tenant", "acme", "--name", "x", "--text-file", text.path(),
               "--colour", "red"},
              url);
  CHECK(r.rc == 2);
  CHECK(r.err.find("unknown option --colour") != std::string::npos);
  CHECK(db.count("SELECT count(*) FROM templates WHERE name <> 'bienvenue'") == 0);
}

TEST_CASE("iaposte contacts import|export|get|delete") {
  content_database db;
  const auto& url = db.url();
  const std::string valid = std::string(IAPOSTE_TEST_DATA) + "/contacts/01-valid.csv";
  auto r = run_cli({"contacts", "import", "--tenant", "acme", valid}, url);
  REQUIRE_MESSAGE(r.rc == 0, r.err);
  CHECK(r.out == "imported 4 rows: 4 inserted, 0 updated, 0 unchanged\n");
  r = run_cli({"contacts", "import", "--tenant", "acme", valid}, url);
  CHECK(r.out == "imported 4 rows: 0 inserted, 0 updated, 4 unchanged\n");

  // Errors: FILE:LINE: message on stderr, exit 1, nothing imported.
  const std::string errors = std::string(IAPOSTE_TEST_DATA) + "/contacts/02-errors.csv";
  r = run_cli({"contacts", "import", "--tenant", "autre", errors}, url);
  CHECK(r.rc == 1);
  CHECK(r.err.find(errors + ":3: invalid email address 'pas-une-adresse'\n") != std::string::npos);
  CHECK(r.err.find(errors + ":11: unterminated quoted field") != std::string::npos);
  CHECK(r.err.find("nothing imported (8 errors)") != std::string::npos);
  CHECK(db.count("SELECT count(*) FROM contacts WHERE tenant = 'autre'") == 0);

  std::string many = "email\n";
  for (int i = 0; i < 30; ++i)
    many += "bad" + std::to_string(i) + "\n";
  temp_file bad(many, ".csv");
  r = run_cli({"contacts", "import", "--tenant", "autre", bad.path()}, url);
  CHECK(r.rc == 1);
  CHECK(r.err.find(bad.path() + ":21: ") != std::string::npos);
  CHECK(r.err.find(bad.path() + ":22: ") == std::string::npos);
  CHECK(r.err.find("... and 10 more\n") != std::string::npos);
  CHECK(r.err.find("nothing imported (30 errors)") != std::string::npos);

  // Export to stdout and to a file; the file imports into another tenant as the same rows.
  r = run_cli({"contacts", "export", "--tenant", "acme"}, url);
  REQUIRE(r.rc == 0);
  const std::string exported = r.out;
  CHECK(exported.rfind("email,name,company,locale,segment,ville\r\n", 0) == 0);
  temp_file out("", ".csv");
  r = run_cli({"contacts", "export", "--tenant", "acme", "--out", out.path()}, url);
  REQUIRE(r.rc == 0);
  CHECK(r.err.find("exported 4 contacts") != std::string::npos);
  CHECK(read_all(out.path()) == exported);
  REQUIRE(run_cli({"contacts", "import", "--tenant", "copie", out.path()}, url).rc == 0);
  CHECK(run_cli({"contacts", "export", "--tenant", "copie"}, url).out == exported);

  r = run_cli({"contacts", "get", "--tenant", "acme", "--email", "JEAN@exemple.fr"}, url);
  CHECK(r.rc == 1);
  r = run_cli({"contacts", "get", "--tenant", "acme", "--email", "jean@Exemple.fr"}, url);
  REQUIRE(r.rc == 0);
  const json jean = first_json(r);
  CHECK(jean["name"] == "Jean \"Jeannot\" Martin");
  r = run_cli(
      {"contacts", "get", "--tenant", "acme", "--id", std::to_string(jean["id"].get<int>())}, url);
  CHECK(first_json(r)["email"] == "jean@EXEMPLE.FR");
  CHECK(run_cli({"contacts", "delete", "--tenant", "acme", "--id",
                 std::to_string(jean["id"].get<int>())},
                url)
            .rc == 0);
  CHECK(run_cli({"contacts", "delete", "--tenant", "acme", "--email", "jean@exemple.fr"}, url).rc ==
        1);

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"contacts", "import", "--tenant", "acme"},
           {"contacts", "import", "--tenant", "acme", valid, valid},
           {"contacts", "import", valid},
           {"contacts", "import", "--tenant", "acme", "/nonexistent.csv"},
           {"contacts", "import", "--tenant", "ACME", valid},
           {"contacts", "export", "--tenant", "acme", "--format", "json"},
           {"contacts", "get", "--tenant", "acme"},
           {"contacts", "get", "--tenant", "acme", "--id", "1", "--email", "a@b.fr"},
           {"contacts", "frobnicate"},
       }) {
    CAPTURE(args);
    CHECK(run_cli(args, url).rc == 2);
  }
}

TEST_CASE("iaposte signature set|show") {
  content_database db;
  const auto& url = db.url();
  temp_file html("<p>L'équipe ventes</p>"), text("L'équipe ventes");
  CHECK(run_cli({"signature", "show", "--tenant", "acme", "--sender", "ventes@acme.fr"}, url).rc ==
        1);
  auto r = run_cli({"signature", "set", "--tenant", "acme", "--sender", "ventes@ACME.FR",
                    "--html-file", html.path(), "--text-file", text.path()},
                   url);
  REQUIRE_MESSAGE(r.rc == 0, r.err);
  r = run_cli({"signature", "show", "--tenant", "acme", "--sender", "ventes@acme.fr"}, url);
  REQUIRE(r.rc == 0);
  CHECK(first_json(r)["sender"] == "ventes@acme.fr");
  CHECK(first_json(r)["html"] == "<p>L'équipe ventes</p>");
  REQUIRE(run_cli({"signature", "set", "--tenant", "acme", "--text-file", text.path()}, url).rc ==
          0);
  r = run_cli({"signature", "show", "--tenant", "acme", "--sender", "autre@acme.fr"}, url);
  REQUIRE(r.rc == 0);
  CHECK(first_json(r)["sender"] == "");
  CHECK(run_cli({"signature", "set", "--tenant", "acme", "--sender", "a@acme.fr"}, url).rc == 2);
  CHECK(run_cli({"signature", "set", "--tenant", "acme", "--sender", "pas une adresse",
                 "--text-file", text.path()},
                url)
            .rc == 2);
  CHECK(run_cli({"signature", "show", "--tenant", "acme", "--from", "a@acme.fr"}, url).rc == 2);
}

TEST_CASE("iaposte suppress add|remove|list|check") {
  content_database db;
  const auto& url = db.url();
  auto r = run_cli({"suppress", "add", "--tenant", "acme", "--address", "Client@Exemple.FR",
                    "--reason", "unsubscribe", "--note", "formulaire"},
                   url);
  REQUIRE_MESSAGE(r.rc == 0, r.err);
  CHECK(first_json(r)["address"] == "Client@exemple.fr");
  CHECK(first_json(r)["reason"] == "unsubscribe");
  REQUIRE(run_cli({"suppress", "add", "--tenant", "acme", "--address", "bounce@exemple.fr",
                   "--reason", "hard_bounce", "--list", "newsletter"},
                  url)
              .rc == 0);
  REQUIRE(
      run_cli({"suppress", "add", "--tenant", "acme", "--address", "manuel@exemple.fr"}, url).rc ==
      0);

  r = run_cli({"suppress", "list", "--tenant", "acme"}, url);
  REQUIRE(r.rc == 0);
  const auto all = json_lines(r.out);
  REQUIRE(all.size() == 3);
  CHECK(all[0]["address"] == "Client@exemple.fr");
  CHECK(all[2]["reason"] == "manual");
  r = run_cli({"suppress", "list", "--tenant", "acme", "--reason", "hard_bounce"}, url);
  REQUIRE(json_lines(r.out).size() == 1);
  CHECK(json_lines(r.out)[0]["list"] == "newsletter");

  CHECK(run_cli({"suppress", "check", "--tenant", "acme", "--address", "Client@exemple.fr"}, url)
            .rc == 1);
  r = run_cli({"suppress", "check", "--tenant", "acme", "--address", "Client@exemple.fr",
               "--category", "marketing"},
              url);
  CHECK(r.rc == 0);
  CHECK(first_json(r)["reason"] == "unsubscribe");
  CHECK(run_cli({"suppress", "check", "--tenant", "acme", "--address", "bounce@exemple.fr"}, url)
            .rc == 1); // only on the newsletter list
  CHECK(run_cli({"suppress", "check", "--tenant", "acme", "--address", "bounce@exemple.fr",
                 "--list", "newsletter"},
                url)
            .rc == 0);

  CHECK(run_cli({"suppress", "remove", "--tenant", "acme", "--address", "bounce@exemple.fr"}, url)
            .rc == 1); // not on list ''
  CHECK(run_cli({"suppress", "remove", "--tenant", "acme", "--address", "Client@exemple.fr",
                 "--reason", "complaint"},
                url)
            .rc == 1);
  CHECK(run_cli({"suppress", "remove", "--tenant", "acme", "--address", "client@EXEMPLE.fr"}, url)
            .rc == 1); // local part differs
  CHECK(run_cli({"suppress", "remove", "--tenant", "acme", "--address", "Client@EXEMPLE.fr"}, url)
            .rc == 0);
  CHECK(json_lines(run_cli({"suppress", "list", "--tenant", "acme"}, url).out).size() == 2);

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"suppress"},
           {"suppress", "add", "--tenant", "acme"},
           {"suppress", "add", "--tenant", "acme", "--address", "a@b.fr", "--reason", "bored"},
           {"suppress", "add", "--tenant", "acme", "--address", "pas une adresse"},
           {"suppress", "list", "--tenant", "acme", "--reason", "x"},
           {"suppress", "check", "--tenant", "acme", "--address", "a@b.fr", "--category", "promo"},
           {"suppress", "remove", "--tenant", "acme", "--adress", "a@b.fr"},
       }) {
    CAPTURE(args);
    CHECK(run_cli(args, url).rc == 2);
  }
}

TEST_CASE("iaposte content commands: help, a missing database URL (2), PostgreSQL unreachable "
          "(1, without the password)") {
  auto r = run_cli({"--help"}, "");
  CHECK(r.rc == 0);
  for (const char* needle : {"template put", "contacts import", "signature set", "suppress add"})
    CHECK(r.out.find(needle) != std::string::npos);
  CHECK(run_cli({"template", "put", "--help"}, "").rc == 0);

  r = run_cli({"template", "list", "--tenant", "acme"}, "");
  CHECK(r.rc == 2);
  CHECK(r.err.find("DATABASE_URL") != std::string::npos);

  const std::string url =
      "postgresql://iaposte:Hunter2@127.0.0.1:" + std::to_string(free_port()) + "/iaposte";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"template", "list", "--tenant", "acme"},
           {"template", "get", "--tenant", "acme", "--name", "x"},
           {"contacts", "export", "--tenant", "acme"},
           {"signature", "show", "--tenant", "acme"},
           {"suppress", "add", "--tenant", "acme", "--address", "a@b.fr"},
       }) {
    CAPTURE(args);
    r = run_cli(args, url);
    CHECK(r.rc == 1);
    CHECK(r.err.find("cannot connect to PostgreSQL at 127.0.0.1:") != std::string::npos);
    CHECK(r.err.find("Hunter2") == std::string::npos);
  }
}

} // namespace test_integration_content_cli_test
