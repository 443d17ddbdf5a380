// Checks the model's answer: JSON shape, limits, placeholders, header injection, links.
#include "ai/validate.hpp"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

namespace iaposte::ai::detail {
namespace {

std::string_view strip_fence(std::string_view s) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front())))
      v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back())))
      v.remove_suffix(1);
    return v;
  };
  s = trim(s);
  // Some servers wrap JSON mode answers in a Markdown fence anyway.
  if (s.size() >= 6 && s.substr(0, 3) == "```" && s.substr(s.size() - 3) == "```") {
    s = s.substr(3, s.size() - 6);
    auto nl = s.find('\n');
    if (nl != std::string_view::npos && s.substr(0, nl).find('{') == std::string_view::npos)
      s.remove_prefix(nl + 1);
    s = trim(s);
  }
  return s;
}

bool has_placeholder(std::string_view s) {
  return s.find("{{") != std::string_view::npos || s.find("}}") != std::string_view::npos;
}

bool bad_control(std::string_view s, bool allow_whitespace) {
  for (unsigned char c : s) {
    if (c == 0x7f) return true;
    if (c < 0x20 && !(allow_whitespace && (c == '\t' || c == '\n' || c == '\r'))) return true;
  }
  return false;
}

std::optional<std::string> field(const nlohmann::json& j, const char* name, bool required,
                                 std::string& error) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    if (required) error = std::string(name) + ": missing";
    return std::nullopt;
  }
  if (!it->is_string()) {
    error = std::string(name) + ": not a string";
    return std::nullopt;
  }
  return it->get<std::string>();
}

} // namespace

std::vector<std::string> find_links(std::string_view s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto a = s.find("http://", pos), b = s.find("https://", pos);
    auto start = std::min(a, b);
    if (start == std::string_view::npos) break;
    auto end = start;
    while (end < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[end]);
      if (c <= 0x20 || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' || c == 0x7f)
        break;
      ++end;
    }
    std::string link(s.substr(start, end - start));
    // Sentence punctuation and closing brackets after a link are not part of it.
    while (!link.empty() && std::string_view(".,;:!?)]}").find(link.back()) != std::string::npos)
      link.pop_back();
    for (std::size_t p; (p = link.find("&amp;")) != std::string::npos;)
      link.replace(p, 5, "&");
    if (link.size() > 8) out.push_back(std::move(link));
    pos = end;
  }
  return out;
}

checked check_output(std::string_view answer, const limits& lim,
                     const std::optional<std::vector<std::string>>& allowed_links) {
  checked out;
  nlohmann::json j = nlohmann::json::parse(strip_fence(answer), nullptr, false);
  if (j.is_discarded()) {
    out.error = "answer: not JSON";
    return out;
  }
  if (!j.is_object()) {
    out.error = "answer: not a JSON object";
    return out;
  }
  content c;
  std::string err;
  auto subject = field(j, "subject", true, err);
  if (!subject) {
    out.error = err;
    return out;
  }
  auto text = field(j, "text", true, err);
  if (!text) {
    out.error = err;
    return out;
  }
  auto html = field(j, "html", false, err);
  if (!err.empty()) {
    out.error = err;
    return out;
  }
  c.subject = std::move(*subject);
  c.text = std::move(*text);
  if (html) c.html = std::move(*html);

  if (c.subject.empty())
    out.error = "subject: empty";
  else if (c.text.empty())
    out.error = "text: empty";
  else if (c.subject.size() > lim.max_subject)
    out.error = "subject: too long";
  else if (c.text.size() > lim.max_text)
    out.error = "text: too long";
  else if (c.html.size() > lim.max_html)
    out.error = "html: too long";
  else if (bad_control(c.subject, false))
    out.error = "subject: control character";
  else if (bad_control(c.text, true))
    out.error = "text: control character";
  else if (bad_control(c.html, true))
    out.error = "html: control character";
  else if (has_placeholder(c.subject) || has_placeholder(c.text) || has_placeholder(c.html))
    out.error = "unresolved placeholder";
  if (!out.error.empty()) return out;

  if (allowed_links) {
    std::set<std::string> allowed(allowed_links->begin(), allowed_links->end());
    for (const std::string* part : {&c.subject, &c.text, &c.html})
      for (auto& link : find_links(*part))
        if (!allowed.count(link)) {
          out.error = "link not allowed: " + link.substr(0, 200);
          return out;
        }
  }

  if (auto it = j.find("sentiment"); it != j.end() && it->is_object()) {
    auto label = it->find("label");
    auto score = it->find("score");
    if (label != it->end() && label->is_string() && score != it->end() && score->is_number()) {
      std::string l = label->get<std::string>();
      double s = score->get<double>();
      if ((l == "positive" || l == "neutral" || l == "negative") && s >= -1 && s <= 1)
        c.sentiment = ai::sentiment{l, s, "model"};
    }
  }
  out.value = std::move(c);
  return out;
}

} // namespace iaposte::ai::detail
