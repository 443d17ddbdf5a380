// Synchronous reads of one request's row and history, on a connection of their own.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace iaposte::store::detail {

std::optional<message_row> find_message(const std::string& url, const std::string& tenant,
                                        const std::string& request_id);
std::vector<event_record> message_history(const std::string& url, const std::string& tenant,
                                          const std::string& request_id);

} // namespace iaposte::store::detail
