// Untrusted model output: the one place where an answer is parsed and checked (internal).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ai/client.hpp"

namespace iaposte::ai::detail {

struct limits {
  std::size_t max_subject = 200, max_text = 20000, max_html = 100000;
};

struct content {
  std::string subject, text, html;
  std::optional<ai::sentiment> sentiment; // from the model, when it gave a valid one
};

struct checked {
  std::optional<content> value; // set when valid
  std::string error;            // why not: "not JSON", "subject: control character", ...
};

// The model's message content: a JSON object (optionally inside a ``` fence) with string
// `subject` and `text`, optional string `html`, optional `sentiment` {label, score} (an
// invalid sentiment is dropped, not fatal). Checks: non-empty subject and text, length
// limits, no "{{" or "}}" left, no control character in the subject (header injection),
// none but TAB/LF/CR in the text and html. `allowed_links`: when set, every http(s) link in
// subject, text and html must be one of them.
checked check_output(std::string_view answer, const limits& lim,
                     const std::optional<std::vector<std::string>>& allowed_links);

// The http:// and https:// links of a text (plain or HTML), trailing punctuation removed,
// "&amp;" decoded.
std::vector<std::string> find_links(std::string_view s);

} // namespace iaposte::ai::detail
