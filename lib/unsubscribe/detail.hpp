// Internal to lib/unsubscribe: the checks add_routes shares with validate().
#pragma once

#include "unsubscribe/unsubscribe.hpp"

namespace iaposte::unsubscribe::detail {

// validate()'s checks of path_prefix, store_timeout and retry_after alone.
void validate_route_keys(const config& cfg);

} // namespace iaposte::unsubscribe::detail
