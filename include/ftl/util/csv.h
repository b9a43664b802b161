// CSV as RFC 4180 writes it: the files ftl writes (confusion matrices, error lists, predictions,
// data splits) and the manifests it reads. Fields are quoted only when they need it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ftl {

/// A CSV field, quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& text);

/// One record of a CSV text and the line it starts on (1-based), for error messages.
struct CsvRecord {
  std::size_t line = 0;
  std::vector<std::string> fields;
};

/// Splits CSV text into records of fields: quoted fields may hold commas, doubled quotes and
/// line breaks; a record ends at LF or CRLF; blank lines are skipped. Throws DataError naming
/// `source` and the line of an unterminated quote or text after a closing quote.
std::vector<CsvRecord> parse_csv(const std::string& text, const std::string& source);

}  // namespace ftl
