// The body of a one-click POST (RFC 8058 §3.2): is it "List-Unsubscribe=One-Click", sent as
// application/x-www-form-urlencoded or multipart/form-data (RFC 7578)? Untrusted input.
#pragma once

#include <string>
#include <string_view>

namespace iaposte::unsubscribe {

enum class form_verdict {
  one_click,        // the body holds List-Unsubscribe=One-Click
  unsupported_type, // neither content type (HTTP 415)
  not_one_click,    // a form without the pair, or a malformed one (HTTP 400)
};

struct form_check {
  form_verdict verdict = form_verdict::not_one_click;
  std::string error; // why not, for the answer and the log; "" when one_click
};

// Name and value are compared without regard to ASCII case; other fields may come with the
// pair (a browser's form adds none, a provider might). In multipart/form-data the part is
// found by its Content-Disposition name; its headers and value are bounded by the body.
form_check check_one_click(std::string_view content_type, std::string_view body);

} // namespace iaposte::unsubscribe
