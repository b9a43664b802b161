#include "ftl/util/csv.h"

#include "ftl/util/errors.h"

namespace ftl {

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::vector<CsvRecord> parse_csv(const std::string& text, const std::string& source) {
  std::vector<CsvRecord> records;
  std::vector<std::string> record;
  std::string field;
  std::size_t line = 1;
  std::size_t record_line = 1;  // where the current record started
  std::size_t quote_line = 0;   // where the open quote started, for the error
  bool quoted = false;          // inside a quoted field
  bool closed = false;          // a quoted field just closed: only , or a line end may follow
  const auto end_record = [&] {
    record.push_back(std::move(field));
    field.clear();
    const bool blank = record.size() == 1 && record[0].empty();
    if (!blank) records.push_back({record_line, std::move(record)});
    record.clear();
    closed = false;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
        closed = true;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      closed = false;
    } else if (c == '\n' || (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) {
      if (c == '\r') ++i;
      end_record();
      ++line;
      record_line = line;
    } else if (closed) {
      throw DataError(source + ": line " + std::to_string(line) +
                      ": text after a closing quote (a quote inside a field must be doubled)");
    } else if (c == '"' && field.empty()) {
      quoted = true;
      quote_line = line;
    } else {
      field += c;
    }
  }
  if (quoted) {
    throw DataError(source + ": line " + std::to_string(quote_line) +
                    ": quoted field is never closed");
  }
  if (!field.empty() || !record.empty() || closed) end_record();
  return records;
}

}  // namespace ftl
