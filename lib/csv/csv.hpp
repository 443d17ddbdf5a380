// CSV text (RFC 4180): reading records with the line each starts on, and writing them back.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace iaposte::csv {

struct record {
  std::size_t line = 0; // 1-based line of the file where the record starts
  std::vector<std::string> fields;
};

struct error {
  std::size_t line = 0;
  std::string message;
};

// Reads `text` as RFC 4180 CSV: fields separated by commas, records by CRLF or LF (a lone CR
// too), fields in double quotes may hold commas, CR, LF and doubled quotes ("" for one).
// Stricter than many readers, because the file is untrusted and a silent misreading would
// import wrong data: a quote inside an unquoted field, or anything but a comma or a line
// end after a closing quote, is an error; spaces are part of the field (§2.4); an
// unterminated quoted field at the end of the text is an error. A UTF-8 byte order mark at
// the start is skipped. Blank lines are skipped. Bytes are passed through as they are (no
// encoding check: valid_utf8 below).
//
// `on_record` gets each record in order. After an error, `on_error` is called once and
// reading goes on at the next line, so that one file reports several errors.
void read(std::string_view text, const std::function<void(record&&)>& on_record,
          const std::function<void(error&&)>& on_error);

// One field as RFC 4180 writes it: in double quotes (inner quotes doubled) when it holds a
// comma, a quote, CR or LF, starts or ends with a space (some readers trim those) or starts
// with a byte order mark (read() would drop it at the start of a file); as is otherwise.
std::string quote(std::string_view field);

// Appends the fields, separated by commas, and CRLF (§2.1).
void write_row(std::string& out, const std::vector<std::string>& fields);

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF)
// without NUL, which PostgreSQL text cannot hold.
bool valid_utf8(std::string_view s);

} // namespace iaposte::csv
