// The checkpoint metadata reader (the "ftl.json" inside every checkpoint, untrusted when the
// file comes from elsewhere). Only ModelError may come out, and what it accepts round-trips.
#include <string>

#include "ftl/model/checkpoint.h"
#include "ftl/util/errors.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const ftl::CheckpointMetadata metadata = ftl::parse_metadata(text, "fuzz");
    (void)ftl::metadata_from_json(ftl::metadata_to_json(metadata), "fuzz");
  } catch (const ftl::ModelError&) {
  }
  return 0;
}
