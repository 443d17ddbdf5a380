// Private to lib/store's content code: the checks of what a caller gives (no PostgreSQL).
#pragma once

#include <string>
#include <string_view>

namespace iaposte::store::detail {

// Each throws std::invalid_argument naming `what` when the value is refused.
void check_tenant(std::string_view tenant);      // 1-64 of [a-z0-9_-], as requests
void check_template_name(std::string_view name); // 1-128 of [A-Za-z0-9._-], alnum first
std::string normal_locale(std::string_view locale, std::string_view what); // '' or a tag
void check_text(std::string_view value, std::string_view what);            // UTF-8, no NUL
void check_email(std::string_view email, std::string_view what);           // core::valid_email
void check_list(std::string_view list);                                    // <= 128, printable

// "'value'" for messages, cut when long.
std::string shown(std::string_view value);

} // namespace iaposte::store::detail
