// CSV text (RFC 4180): reading records with the line each starts on, and writing them back.
#include "csv/csv.hpp"

#include <cstdint>
#include <exception>

#include <csv.h>

namespace iaposte::csv {
namespace {

// Fed to libcsv one physical line at a time, so that each record and each error gets the
// line it is on.
struct reader_state {
  const std::function<void(record&&)>* on_record = nullptr;
  record current;
  bool between_records = true; // the next non-blank line starts a record
  // An exception must not unwind through libcsv's C frames: kept here, rethrown after.
  std::exception_ptr failure;
};

void on_field(void* data, std::size_t len, void* user) {
  auto* st = static_cast<reader_state*>(user);
  if (st->failure) return;
  try {
    st->current.fields.emplace_back(data ? static_cast<const char*>(data) : "", data ? len : 0);
  } catch (...) {
    st->failure = std::current_exception();
  }
}

void on_end_of_record(int, void* user) {
  auto* st = static_cast<reader_state*>(user);
  if (st->failure) return;
  try {
    record done = std::move(st->current);
    st->current = record{done.line, {}};
    st->between_records = true;
    (*st->on_record)(std::move(done));
  } catch (...) {
    st->failure = std::current_exception();
  }
}

// RFC 4180 §2.4: spaces are part of a field. libcsv trims them unless told otherwise.
int no_space(unsigned char) {
  return 0;
}

class parser {
public:
  parser() { reset(); }
  ~parser() { csv_free(&p_); }
  parser(const parser&) = delete;
  parser& operator=(const parser&) = delete;

  void reset() {
    if (initialised_) csv_free(&p_);
    // STRICT: a quote in an unquoted field, or text after a closing quote, is an error;
    // STRICT_FINI: so is a quoted field still open at the end.
    csv_init(&p_, CSV_STRICT | CSV_STRICT_FINI);
    csv_set_space_func(&p_, no_space);
    initialised_ = true;
  }
  csv_parser* get() { return &p_; }

private:
  csv_parser p_{};
  bool initialised_ = false;
};

bool blank(std::string_view line) {
  return line.find_first_not_of("\r\n") == std::string_view::npos;
}

} // namespace

void read(std::string_view text, const std::function<void(record&&)>& on_record,
          const std::function<void(error&&)>& on_error) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  reader_state st;
  st.on_record = &on_record;
  parser p;
  std::size_t line = 0, pos = 0;
  while (pos < text.size()) {
    ++line;
    const std::size_t nl = text.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    const std::string_view chunk = text.substr(pos, end - pos);
    pos = end;
    if (st.between_records && !blank(chunk)) {
      st.current.line = line;
      st.between_records = false;
    }
    const std::size_t used =
        csv_parse(p.get(), chunk.data(), chunk.size(), on_field, on_end_of_record, &st);
    if (st.failure) std::rethrow_exception(st.failure);
    if (used == chunk.size()) continue;
    const int code = csv_error(p.get());
    std::string what =
        code == CSV_EPARSE
            ? "malformed quoting: a quote inside an unquoted field, or something other than a "
              "comma or a line end after a closing quote"
            : std::string("cannot read: ") + csv_strerror(code);
    if (st.current.line != line)
      what += " (in the record that starts on line " + std::to_string(st.current.line) + ")";
    on_error({line, std::move(what)});
    // Drop the broken record and start again at the next line.
    p.reset();
    st.current = record{};
    st.between_records = true;
  }
  const int fini = csv_fini(p.get(), on_field, on_end_of_record, &st);
  if (st.failure) std::rethrow_exception(st.failure);
  if (fini != 0)
    on_error({st.current.line, "unterminated quoted field: the closing quote is missing"});
}

std::string quote(std::string_view field) {
  // A leading byte order mark too: at the start of a file the reader would take it for one.
  const bool needs = field.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!field.empty() && (field.front() == ' ' || field.back() == ' ')) ||
                     field.substr(0, 3) == "\xEF\xBB\xBF";
  if (!needs) return std::string(field);
  std::string out;
  out.reserve(field.size() + 2);
  out.push_back('"');
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void write_row(std::string& out, const std::vector<std::string>& fields) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out.push_back(',');
    out += quote(fields[i]);
  }
  out += "\r\n";
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false; // continuation byte first, C0/C1 (overlong), or past U+10FFFF
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

} // namespace iaposte::csv
