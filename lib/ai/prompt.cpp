// The system prompts and the OpenAI-compatible JSON bodies.
#include "ai/prompt.hpp"

#include "ai/cache.hpp"
#include "ai/validate.hpp"

namespace iaposte::ai::detail {
namespace {

constexpr const char* answer_format =
    "Answer with one JSON object and nothing else: {\"subject\": string (one line), "
    "\"text\": string (the plain-text body), \"html\": string (optional, the same body as "
    "simple HTML), \"sentiment\": {\"label\": \"positive\" | \"neutral\" | \"negative\", "
    "\"score\": number from -1 to 1} (the tone of your message)}. Never leave placeholders "
    "such as {{name}}; never put line breaks in the subject.";

} // namespace

std::string system_prompt(mode m, const std::optional<style_profile>& style) {
  std::string s;
  if (m == mode::personalize)
    s = "You personalize an e-mail for one recipient. Rewrite the given subject and body for "
        "the contact described, keeping every fact, figure, date, name, price and link exactly "
        "as given; add no link, fact, offer or promise. ";
  else
    s = "You write an e-mail on behalf of the sender, following the instructions and using "
        "the contact fields given; invent no fact, price, date or link. ";
  s += answer_format;
  if (style) {
    if (!style->tone.empty()) s += "\nTone: " + style->tone + ".";
    if (style->formality == "vous")
      s += "\nAddress the reader formally (in French, vouvoiement: \"vous\").";
    else if (style->formality == "tu")
      s += "\nAddress the reader informally (in French, tutoiement: \"tu\").";
    if (!style->language.empty()) s += "\nWrite in this language: " + style->language + ".";
    if (!style->signature.empty()) s += "\nSignature conventions: " + style->signature;
  }
  return s;
}

nlohmann::json messages(const request& req, const std::optional<style_profile>& style) {
  nlohmann::json input = nlohmann::json::object();
  if (req.kind == mode::personalize) {
    input["subject"] = req.subject;
    input["text"] = req.text;
    if (!req.html.empty()) input["html"] = req.html;
  } else {
    input["instructions"] = req.instructions;
  }
  input["contact"] = req.contact; // std::map: keys in a fixed order, for the cache key
  return nlohmann::json::array(
      {{{"role", "system"}, {"content", system_prompt(req.kind, style)}},
       {{"role", "user"},
        {"content", input.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)}}});
}

nlohmann::json request_body(const provider_config& p, const nlohmann::json& msgs) {
  return {{"model", p.model},
          {"messages", msgs},
          {"temperature", p.temperature},
          {"max_tokens", p.max_tokens},
          {"response_format", {{"type", "json_object"}}}};
}

std::string cache_key(const provider_config& p, const nlohmann::json& body) {
  // nlohmann::json objects are ordered by key: the dump is canonical.
  nlohmann::json k = {{"provider", p.name}, {"body", body}};
  return sha256_hex(k.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

completion parse_completion(std::string_view body) {
  completion c;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    c.error = "response: not a JSON object";
    return c;
  }
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
    auto num = [&](const char* k) -> std::uint64_t {
      auto it = u->find(k);
      return it != u->end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
    };
    c.tokens_in = num("prompt_tokens");
    c.tokens_out = num("completion_tokens");
  }
  auto ch = j.find("choices");
  if (ch == j.end() || !ch->is_array() || ch->empty() || !(*ch)[0].is_object()) {
    c.error = "response: no choices";
    return c;
  }
  auto msg = (*ch)[0].find("message");
  if (msg == (*ch)[0].end() || !msg->is_object()) {
    c.error = "response: no message";
    return c;
  }
  auto content = msg->find("content");
  if (content == msg->end() || !content->is_string()) {
    c.error = "response: no content";
    return c;
  }
  c.content = content->get<std::string>();
  return c;
}

std::optional<std::vector<std::string>> allowed_links(const request& req) {
  if (req.kind == mode::generate && req.allowed_links.empty()) return std::nullopt;
  std::vector<std::string> out = req.allowed_links;
  auto add = [&](const std::string& s) {
    for (auto& l : find_links(s))
      out.push_back(std::move(l));
  };
  if (req.kind == mode::personalize) {
    add(req.subject);
    add(req.text);
    add(req.html);
  }
  for (const auto& [k, v] : req.contact)
    add(v);
  return out;
}

} // namespace iaposte::ai::detail
