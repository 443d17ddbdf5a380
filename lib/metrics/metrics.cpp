// The metrics registry: name and label validation, series ownership, text exposition.
#include "metrics/metrics.hpp"

#include <charconv>
#include <cmath>
#include <mutex>
#include <stdexcept>

namespace iaposte::metrics {

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

std::uint64_t histogram::count() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i)
    total += bucket_count(i);
  return total;
}

std::vector<double> latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

namespace {

enum class kind { counter, gauge, histogram };

std::string_view kind_name(kind k) {
  switch (k) {
  case kind::counter:
    return "counter";
  case kind::gauge:
    return "gauge";
  case kind::histogram:
    return "histogram";
  }
  return "untyped";
}

bool name_char(char c, bool first, bool colon_ok) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (alpha || (colon_ok && c == ':')) return true;
  return !first && c >= '0' && c <= '9';
}

// [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, [a-zA-Z_][a-zA-Z0-9_]* for labels (data model).
bool valid_name(std::string_view s, bool colon_ok) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!name_char(s[i], i == 0, colon_ok)) return false;
  return true;
}

void check_labels(std::string_view metric, const labels& l, kind k) {
  for (std::size_t i = 0; i < l.size(); ++i) {
    const std::string& n = l[i].first;
    if (!valid_name(n, false) || n.starts_with("__"))
      throw std::invalid_argument("metric " + std::string(metric) + ": invalid label name '" + n +
                                  "'");
    if (k == kind::histogram && n == "le")
      throw std::invalid_argument("metric " + std::string(metric) +
                                  ": 'le' is reserved for histogram buckets");
    for (std::size_t j = 0; j < i; ++j)
      if (l[j].first == n)
        throw std::invalid_argument("metric " + std::string(metric) + ": label '" + n +
                                    "' given twice");
  }
}

void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quote && c == '"')
      out += "\\\"";
    else
      out += c;
  }
}

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v); // shortest round-trip form
    out.append(buf, end);
  }
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// `{a="x",b="y"}`, with `le` appended for a histogram bucket; nothing when there are no labels.
void append_labels(std::string& out, const labels& l, const std::string* le = nullptr) {
  if (l.empty() && !le) return;
  out += '{';
  bool first = true;
  for (const auto& [n, v] : l) {
    if (!first) out += ',';
    first = false;
    out += n;
    out += "=\"";
    append_escaped(out, v, true);
    out += '"';
  }
  if (le) {
    if (!first) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

// Exactly one of the four is set.
struct series {
  labels l;
  std::unique_ptr<metrics::counter> c;
  std::unique_ptr<metrics::gauge> g;
  std::unique_ptr<metrics::histogram> h;
  std::function<double()> fn;
};

struct family {
  std::string name;
  std::string help;
  kind k;
  std::vector<double> bounds; // histograms: every series shares them
  std::vector<std::unique_ptr<series>> all;
};

} // namespace

struct registry::impl {
  mutable std::mutex mutex;
  std::vector<std::unique_ptr<family>> families; // registration order

  // The family `name`, created when new; throws when it exists with another type.
  family& family_for(std::string_view name, std::string_view help, kind k) {
    if (!valid_name(name, true))
      throw std::invalid_argument("invalid metric name '" + std::string(name) + "'");
    for (auto& f : families) {
      if (f->name != name) continue;
      if (f->k != k)
        throw std::invalid_argument("metric " + std::string(name) + " already registered as " +
                                    std::string(kind_name(f->k)));
      return *f;
    }
    families.push_back(
        std::make_unique<family>(family{std::string(name), std::string(help), k, {}, {}}));
    return *families.back();
  }

  static series* find(family& f, const labels& l) {
    for (auto& s : f.all)
      if (s->l == l) return s.get();
    return nullptr;
  }

  // The series `name{l}`, created when new; `slot` picks its metric (counter or gauge).
  template <class T>
  T& get(std::string_view name, std::string_view help, labels l, kind k,
         std::unique_ptr<T> series::*slot) {
    check_labels(name, l, k);
    std::lock_guard lock(mutex);
    family& f = family_for(name, help, k);
    if (series* s = find(f, l)) {
      if (s->*slot) return *(s->*slot);
      throw std::invalid_argument("metric " + std::string(name) +
                                  ": these labels are a callback gauge");
    }
    series& s = *f.all.emplace_back(std::make_unique<series>());
    s.l = std::move(l);
    s.*slot = std::make_unique<T>();
    return *(s.*slot);
  }
};

registry::registry() : impl_(std::make_unique<impl>()) {}
registry::~registry() = default;

metrics::counter& registry::counter(std::string_view name, std::string_view help,
                                    metrics::labels l) {
  return impl_->get(name, help, std::move(l), kind::counter, &series::c);
}

metrics::gauge& registry::gauge(std::string_view name, std::string_view help, metrics::labels l) {
  return impl_->get(name, help, std::move(l), kind::gauge, &series::g);
}

metrics::histogram& registry::histogram(std::string_view name, std::string_view help,
                                        std::vector<double> bounds, metrics::labels l) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i])))
      throw std::invalid_argument("histogram " + std::string(name) +
                                  ": bucket bounds must be finite and strictly increasing");
  }
  check_labels(name, l, kind::histogram);
  std::lock_guard lock(impl_->mutex);
  family& f = impl_->family_for(name, help, kind::histogram);
  if (f.all.empty())
    f.bounds = bounds;
  else if (f.bounds != bounds)
    throw std::invalid_argument("histogram " + std::string(name) +
                                ": registered again with other buckets");
  if (series* s = impl::find(f, l)) return *s->h;
  series& s = *f.all.emplace_back(std::make_unique<series>());
  s.l = std::move(l);
  s.h = std::make_unique<metrics::histogram>(std::move(bounds));
  return *s.h;
}

void registry::gauge_callback(std::string_view name, std::string_view help, metrics::labels l,
                              std::function<double()> fn) {
  if (!fn) throw std::invalid_argument("gauge " + std::string(name) + ": empty callback");
  check_labels(name, l, kind::gauge);
  std::lock_guard lock(impl_->mutex);
  family& f = impl_->family_for(name, help, kind::gauge);
  if (impl::find(f, l))
    throw std::invalid_argument("gauge " + std::string(name) + ": these labels already exist");
  auto& s = f.all.emplace_back(std::make_unique<series>());
  s->l = std::move(l);
  s->fn = std::move(fn);
}

std::string registry::render_prometheus() const {
  std::string out;
  std::lock_guard lock(impl_->mutex);
  for (const auto& f : impl_->families) {
    out += "# HELP ";
    out += f->name;
    out += ' ';
    append_escaped(out, f->help, false);
    out += "\n# TYPE ";
    out += f->name;
    out += ' ';
    out += kind_name(f->k);
    out += '\n';
    for (const auto& sp : f->all) {
      const series& s = *sp;
      if (!s.h) {
        out += f->name;
        append_labels(out, s.l);
        out += ' ';
        if (s.c)
          append_number(out, s.c->value());
        else
          append_number(out, s.g ? s.g->value() : s.fn());
        out += '\n';
      } else {
        const auto& h = *s.h;
        // Read each bucket once: the cumulative counts, +Inf and _count then agree even while
        // other threads observe (the sum may be a few observations ahead or behind).
        std::uint64_t cumulative = 0;
        const auto& b = h.bounds();
        for (std::size_t i = 0; i <= b.size(); ++i) {
          cumulative += h.bucket_count(i);
          std::string le;
          if (i < b.size())
            append_number(le, b[i]);
          else
            le = "+Inf";
          out += f->name;
          out += "_bucket";
          append_labels(out, s.l, &le);
          out += ' ';
          append_number(out, cumulative);
          out += '\n';
        }
        out += f->name;
        out += "_sum";
        append_labels(out, s.l);
        out += ' ';
        append_number(out, h.sum());
        out += '\n';
        out += f->name;
        out += "_count";
        append_labels(out, s.l);
        out += ' ';
        append_number(out, cumulative);
        out += '\n';
      }
    }
  }
  return out;
}

} // namespace iaposte::metrics
