#include "json_log_format.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/sink.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace ftl::cli {
namespace {

// UTC with milliseconds, ISO 8601: "2026-12-02T18:43:39.123Z".
std::string utc_time(spdlog::log_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
  char full[40];
  std::snprintf(full, sizeof full, "%s.%03dZ", text, static_cast<int>(millis));
  return full;
}

class JsonLineFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& dest) override {
    nlohmann::ordered_json line;
    line["time"] = utc_time(message.time);
    const auto level = spdlog::level::to_string_view(message.level);
    line["level"] = std::string(level.data(), level.size());
    const std::string payload(message.payload.data(), message.payload.size());
    const nlohmann::ordered_json fields =
        nlohmann::ordered_json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (fields.is_object()) {
      for (const auto& [key, value] : fields.items()) line[key] = value;
    } else {
      line["message"] = payload;
    }
    const std::string text =
        line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(text.data(), text.data() + text.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>();
  }
};

}  // namespace

void use_json_lines(spdlog::logger& logger) {
  for (const spdlog::sink_ptr& sink : logger.sinks()) {
    sink->set_formatter(std::make_unique<JsonLineFormatter>());
  }
}

}  // namespace ftl::cli
