// Placeholder substitution: `{name}` replaced by variables["name"].
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace iaposte::render {

// `{identifier}` (identifier = [A-Za-z_][A-Za-z0-9_.-]*) is replaced by its value;
// `{{` and `}}` produce literal braces; any other brace is kept as is.
// Names without a value are appended to `missing` (once each) and left in place.
std::string substitute(std::string_view tmpl, const std::map<std::string, std::string>& vars,
                       std::vector<std::string>& missing);

// The same for HTML: each value is escaped (& < > " ') before it is inserted,
// so that a contact's name cannot inject markup. The template itself is trusted.
std::string substitute_html(std::string_view tmpl, const std::map<std::string, std::string>& vars,
                            std::vector<std::string>& missing);

// HTML escaping of text for element content and quoted attribute values.
std::string escape_html(std::string_view text);

} // namespace iaposte::render
