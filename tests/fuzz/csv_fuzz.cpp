// The CSV parser behind dataset manifests. Only DataError may come out, and every record's
// line number lies within the text.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "ftl/util/csv.h"
#include "ftl/util/errors.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const std::size_t lines =
        static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    for (const ftl::CsvRecord& record : ftl::parse_csv(text, "fuzz")) {
      if (record.line < 1 || record.line > lines) std::abort();
    }
  } catch (const ftl::DataError&) {
  }
  return 0;
}
