// CSV writing and reading: what ftl writes reads back as the same fields, and malformed
// manifests fail with the line.
#include "ftl/util/csv.h"

#include <catch2/catch.hpp>

#include "ftl/util/errors.h"

using Records = std::vector<std::vector<std::string>>;

namespace {

Records fields(const std::vector<ftl::CsvRecord>& records) {
  Records out;
  for (const ftl::CsvRecord& record : records) out.push_back(record.fields);
  return out;
}

}  // namespace

TEST_CASE("csv: fields are quoted only when they need it", "[csv]") {
  CHECK(ftl::csv_field("plain") == "plain");
  CHECK(ftl::csv_field("a,b") == "\"a,b\"");
  CHECK(ftl::csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(ftl::csv_field("two\nlines") == "\"two\nlines\"");
}

TEST_CASE("csv: parsing reads quoted fields, CRLF and blank lines", "[csv]") {
  CHECK(fields(ftl::parse_csv("path,label\na.png,cat\r\n\n\"b, c.png\",\"say \"\"hi\"\"\"\n",
                              "m.csv")) ==
        Records{{"path", "label"}, {"a.png", "cat"}, {"b, c.png", "say \"hi\""}});
  CHECK(fields(ftl::parse_csv("x,\"multi\nline\"", "m.csv")) == Records{{"x", "multi\nline"}});
  CHECK(fields(ftl::parse_csv("a,,\n", "m.csv")) == Records{{"a", "", ""}});
  CHECK(ftl::parse_csv("", "m.csv").empty());

  // What csv_field writes reads back as it was.
  const std::vector<std::string> written = {"ünïcode name.png", "a,b", "q\"q", ""};
  std::string line;
  for (const std::string& field : written)
    line += (line.empty() ? "" : ",") + ftl::csv_field(field);
  CHECK(fields(ftl::parse_csv(line + "\n", "m.csv")) == Records{written});
}

TEST_CASE("csv: each record knows the line it starts on", "[csv]") {
  const auto records = ftl::parse_csv("h\r\n\n\"a\nb\"\nc\n", "m.csv");
  REQUIRE(records.size() == 3);
  CHECK(records[0].line == 1);
  CHECK(records[1].line == 3);
  CHECK(records[2].line == 5);
}

TEST_CASE("csv: malformed text names the source and the line", "[csv]") {
  CHECK_THROWS_WITH(ftl::parse_csv("path,label\n\"a.png,cat\n", "m.csv"),
                    "m.csv: line 2: quoted field is never closed");
  CHECK_THROWS_WITH(ftl::parse_csv("path,label\n\"a\"b,cat\n", "m.csv"),
                    "m.csv: line 2: text after a closing quote (a quote inside a field must be "
                    "doubled)");
  CHECK_THROWS_AS(ftl::parse_csv("\"", "m.csv"), ftl::DataError);
}
