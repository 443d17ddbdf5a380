// Specification of the locale variant choice.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "render/locale.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_render_locale_test {

using iaposte::render::choose_variant;

TEST_CASE("choose_variant: exact, then language, then another region, then default") {
  struct row {
    std::vector<std::string> available;
    std::string wanted;
    std::optional<std::string> chosen;
  };
  const std::vector<row> table = {
      {{"", "fr", "en", "fr-CA"}, "fr-CA", "fr-CA"}, // exact
      {{"", "fr", "en", "fr-CA"}, "fr", "fr"},       // exact, language only
      {{"", "fr", "en", "fr-CA"}, "fr-BE", "fr"},    // language of a region
      {{"", "fr", "en", "fr-CA"}, "en-GB", "en"},
      {{"", "fr", "en", "fr-CA"}, "de", ""},      // nothing fits: default
      {{"", "fr", "en", "fr-CA"}, "", ""},        // no locale asked: default
      {{"", "fr-CA", "fr-FR"}, "fr", "fr-CA"},    // no bare "fr": first region listed
      {{"", "fr-CA", "fr-FR"}, "fr-BE", "fr-CA"}, // likewise
      {{"", "fr"}, "FR_ca", "fr"},                // case and '_' do not matter
      {{"", "fr-CA"}, "fr_CA.UTF-8", "fr-CA"},    // POSIX locale names
      {{"", "fr-CA"}, "fr_CA@euro", "fr-CA"},
      {{"", "FR"}, "fr", "FR"},           // the variant comes back as stored
      {{"fr", "en"}, "de", std::nullopt}, // no default and nothing fits
      {{"fr", "en"}, "en-US", "en"},
      {{}, "fr", std::nullopt},
      {{""}, "fr", ""},
  };
  for (const auto& r : table) {
    CAPTURE(r.wanted);
    CAPTURE(r.available.size());
    CHECK(choose_variant(r.available, r.wanted) == r.chosen);
  }
}

} // namespace test_unit_render_locale_test
