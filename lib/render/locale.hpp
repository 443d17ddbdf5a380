// Choosing the locale variant of a template for a request or a contact.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace iaposte::render {

// The variant to use among `available` ("" is the default variant, others are language tags
// such as "fr", "en", "fr-CA") for the `wanted` locale: the exact tag, else the bare language
// ("fr" for "fr-CA"), else another region of the same language (the first one listed), else
// the default. Tags compare case-insensitively, `_` as `-`, and a POSIX suffix is ignored
// ("fr_CA.UTF-8" is "fr-CA"). Empty when nothing fits and there is no default variant.
std::optional<std::string> choose_variant(std::span<const std::string> available,
                                          std::string_view wanted);

} // namespace iaposte::render
