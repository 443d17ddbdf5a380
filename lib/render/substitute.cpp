// Placeholder substitution: `{name}` from the request's variables, `{{`/`}}` as literal braces.
#include <algorithm>

#include "render/render.hpp"

namespace iaposte::render {
namespace {

bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

template <typename Emit>
std::string expand(std::string_view t, const std::map<std::string, std::string>& vars,
                   std::vector<std::string>& missing, Emit emit_value) {
  std::string out;
  out.reserve(t.size());
  std::size_t i = 0;
  while (i < t.size()) {
    char c = t[i];
    if ((c == '{' || c == '}') && i + 1 < t.size() && t[i + 1] == c) {
      out += c;
      i += 2;
      continue;
    }
    if (c == '{' && i + 1 < t.size() && name_start(t[i + 1])) {
      std::size_t end = i + 2;
      while (end < t.size() && name_char(t[end]))
        ++end;
      if (end < t.size() && t[end] == '}') {
        std::string name(t.substr(i + 1, end - i - 1));
        if (auto it = vars.find(name); it != vars.end()) {
          emit_value(out, it->second);
        } else {
          // Left in place, so that whoever reads the result sees what was not filled.
          if (std::find(missing.begin(), missing.end(), name) == missing.end())
            missing.push_back(name);
          out.append(t.substr(i, end - i + 1));
        }
        i = end + 1;
        continue;
      }
    }
    out += c;
    ++i;
  }
  return out;
}

} // namespace

std::string substitute(std::string_view tmpl, const std::map<std::string, std::string>& vars,
                       std::vector<std::string>& missing) {
  return expand(tmpl, vars, missing, [](std::string& out, const std::string& v) { out += v; });
}

std::string substitute_html(std::string_view tmpl, const std::map<std::string, std::string>& vars,
                            std::vector<std::string>& missing) {
  return expand(tmpl, vars, missing,
                [](std::string& out, const std::string& v) { out += escape_html(v); });
}

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

} // namespace iaposte::render
