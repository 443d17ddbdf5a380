// Prompts and the chat-completions wire format (internal): what we send, and the envelope
// of what comes back (the content itself is checked by validate.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ai/client.hpp"

namespace iaposte::ai::detail {

// The system prompt: the task for the mode, the JSON answer format, the style profile.
std::string system_prompt(mode m, const std::optional<style_profile>& style);

// [{"role":"system",...},{"role":"user",...}]; the user message is the request's input
// as JSON (subject/text/html or instructions, plus contact fields).
nlohmann::json messages(const request& req, const std::optional<style_profile>& style);

// The POST body: model, messages, temperature, max_tokens, response_format json_object.
nlohmann::json request_body(const provider_config& p, const nlohmann::json& msgs);

// SHA-256 over the provider name, model, messages and parameters.
std::string cache_key(const provider_config& p, const nlohmann::json& body);

struct completion {
  std::optional<std::string> content; // choices[0].message.content
  std::uint64_t tokens_in = 0, tokens_out = 0;
  std::string error;
};
// Parses the HTTP body of a 200 answer.
completion parse_completion(std::string_view body);

// The links a personalized output may contain: the input's and the request's extra ones;
// for generate, none (no check) unless allowed_links is non-empty.
std::optional<std::vector<std::string>> allowed_links(const request& req);

} // namespace iaposte::ai::detail
