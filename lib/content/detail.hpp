// Private to lib/content: the stage's state and its cache of compiled template versions.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "content/stage.hpp"
#include "render/template.hpp"

namespace iaposte::content {

// Compiled template versions by (tenant, name, version, locale, strict), least recently used
// first out; thread-safe. Versions are immutable, so an entry never goes stale.
class template_cache {
public:
  explicit template_cache(std::size_t capacity);
  ~template_cache();
  render::compile_result get(const std::string& tenant, const store::resolved_template& t);

private:
  struct state;
  std::size_t capacity_;
  std::unique_ptr<state> state_;
};

struct stage::impl {
  stage_config cfg;
  template_cache templates;
  // Signers by (tenant or "*", signing domain), keys loaded once.
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const dkim::signer>> signers;

  explicit impl(stage_config c) : cfg(std::move(c)), templates(cfg.template_cache) {}
};

} // namespace iaposte::content
