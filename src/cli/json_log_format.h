// --log-format json: every log line one JSON object, for log collectors. A message that is
// itself a JSON object (ftl serve's access lines) has its fields merged into the line; any
// other message is its "message" field.
#pragma once

#include <spdlog/logger.h>

namespace ftl::cli {

/// Gives every sink of `logger` the JSON line format.
void use_json_lines(spdlog::logger& logger);

}  // namespace ftl::cli
