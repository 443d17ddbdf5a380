// libFuzzer target for the whole reject path of intake (lib/core): raw record bytes →
// parse_request → the status event the worker publishes for it → JSON text.
//
// Checked beyond "no crash, no sanitizer report" (issue 11: a reason quoting a raw 0xFF made
// the rejected event throw while serialising, and the record jammed its partition):
//  - serialising the event never throws, and its text is valid UTF-8 that parses back into
//    the same event (status_event_from_json);
//  - a rejection always has a reason, bounded, and never an accepted request without fields
//    the worker relies on (request_id, tenant, sender, a recipient);
//  - the same holds when the input's tail is used as an SMTP server's reply text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/request.hpp"
#include "core/status.hpp"
#include "core/text.hpp"

using namespace iaposte::core;

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property broken: %s\n", what);
    std::abort();
  }
}

void round_trip(const status_event& ev) {
  std::string text;
  try {
    text = serialize(ev);
  } catch (...) {
    check(false, "serialize threw");
  }
  check(invalid_utf8_at(text) == std::string::npos, "event JSON is not valid UTF-8");
  auto j = nlohmann::json::parse(text, nullptr, false);
  check(j.is_object(), "event JSON does not parse back");
  try {
    auto back = status_event_from_json(j);
    check(back.reason == j.value("reason", ""), "reason changed on the way back");
    check(back.request_id == ev.request_id, "request_id changed on the way back");
  } catch (...) {
    check(false, "status_event_from_json refused the event we wrote");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  limits lim;
  lim.max_request_bytes = 64 * 1024;
  lim.max_body_bytes = 32 * 1024;
  lim.max_metadata_bytes = 4 * 1024;
  auto parsed = parse_request(raw, lim);

  status_event ev;
  ev.attempt = 0;
  if (!parsed.ok()) {
    check(!parsed.error.empty(), "rejection without a reason");
    check(parsed.error.size() <= max_reason_bytes, "reason over the bound");
    // As worker::reject builds it.
    ev.request_id = parsed.request_id.empty() ? "kafka:requests:0:0" : parsed.request_id;
    ev.tenant = parsed.tenant.empty() ? "_unknown" : parsed.tenant;
    ev.status = status::rejected;
    ev.reason = parsed.error;
    ev.metadata = parsed.metadata;
    round_trip(ev);
    return 0;
  }
  const request& r = *parsed.value;
  check(!r.request_id.empty() && !r.tenant.empty() && !r.from.email.empty(),
        "accepted request lacks an identity");
  check(!r.envelope_recipients().empty(), "accepted request without recipients");
  ev.request_id = r.request_id;
  ev.tenant = r.tenant;
  ev.status = status::bounced;
  ev.metadata = r.metadata;
  // The rest of the input as a server's reply: servers send any bytes too.
  ev.smtp = smtp_reply_info{550, "5.1.1", std::string(raw.substr(size / 2))};
  ev.reason = "550 5.1.1 " + std::string(raw.substr(size / 3));
  round_trip(ev);
  return 0;
}
