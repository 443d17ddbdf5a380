// Fault injection for the failure paths no input can reach (a bug inside the worker), so
// that tests can drive them through the real daemon.
#pragma once

#include <string_view>

namespace iaposte::core {

// True when the environment variable IAPOSTE_FAILPOINTS (read once) names `name` for this
// request: a comma-separated list of `name:request_id_prefix:count`, true for the first
// `count` calls per request_id starting with the prefix (count 0: every call). Unset, as in
// production, a call costs one test of a flag.
bool failpoint(std::string_view name, std::string_view request_id);

} // namespace iaposte::core
