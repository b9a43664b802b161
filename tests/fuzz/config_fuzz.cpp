// The config reader: JSON text, then config_from_json and validate_config, then a --set
// override built from the same bytes. Only ConfigError may come out.
#include <nlohmann/json.hpp>
#include <string>

#include "ftl/config/config.h"
#include "ftl/util/errors.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_discarded()) {
    try {
      const ftl::Config config = ftl::config_from_json(json);
      ftl::validate_config(config);
      (void)ftl::config_from_json(ftl::config_to_json(config));  // what it writes, it reads
    } catch (const ftl::ConfigError&) {
    }
  }
  try {
    ftl::Config config;
    ftl::apply_override(config, text);  // the bytes as "key=value"
  } catch (const ftl::ConfigError&) {
  }
  return 0;
}
