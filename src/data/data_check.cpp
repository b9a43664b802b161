#include "ftl/data/data_check.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "ftl/data/dataset.h"
#include "ftl/image/image.h"
#include "ftl/util/errors.h"
#include "ftl/util/runtime.h"

namespace ftl {
namespace {

// What decoding one image found.
struct Decoded {
  int width = 0;
  int height = 0;
  std::string error;  // empty when the image decoded
};

SideSpread spread(std::vector<int> sides) {
  if (sides.empty()) return {};
  std::sort(sides.begin(), sides.end());
  return {sides.front(), sides[sides.size() / 2], sides.back()};
}

}  // namespace

DataCheck check_data(const DataCheckOptions& options) {
  const ImageFolder data = scan_dataset(options.data);
  std::vector<Decoded> decoded(data.samples.size());
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t i = next++; i < decoded.size(); i = next++) {
      try {
        const Image image = read_image(data.samples[i].path);
        decoded[i].width = image.width;
        decoded[i].height = image.height;
      } catch (const std::exception& error) {
        // An exception must not leave a thread (std::terminate): every failure is a reason,
        // including a file too large to read (std::bad_alloc).
        decoded[i].error = error.what();
      }
    }
  };
  std::vector<std::thread> workers;
  const std::int64_t threads = resolve_workers(options.workers);
  for (std::int64_t t = 0; t < threads; ++t) workers.emplace_back(work);
  for (std::thread& worker : workers) worker.join();

  DataCheck check;
  check.data = options.data;
  check.classes = data.classes;
  check.counts = class_counts(data);
  check.images = static_cast<std::int64_t>(data.samples.size());
  check.skipped_files = data.skipped_files;
  std::vector<int> widths;
  std::vector<int> heights;
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    if (decoded[i].error.empty()) {
      widths.push_back(decoded[i].width);
      heights.push_back(decoded[i].height);
      continue;
    }
    check.bad.push_back({i, image_error_reason(decoded[i].error, data.samples[i].path)});
    check.bad_paths.push_back(data.samples[i].path.string());
  }
  check.width = spread(widths);
  check.height = spread(heights);
  return check;
}

nlohmann::ordered_json data_check_json(const DataCheck& check) {
  nlohmann::ordered_json json;
  json["data"] = check.data.string();
  json["images"] = check.images;
  nlohmann::ordered_json classes = nlohmann::ordered_json::object();
  for (std::size_t c = 0; c < check.classes.size(); ++c)
    classes[check.classes[c]] = check.counts[c];
  json["classes"] = classes;
  json["imbalance"] = imbalance_ratio(check.counts);
  json["skipped_files"] = check.skipped_files;
  json["width"] = {
      {"min", check.width.min}, {"median", check.width.median}, {"max", check.width.max}};
  json["height"] = {
      {"min", check.height.min}, {"median", check.height.median}, {"max", check.height.max}};
  json["bad"] = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < check.bad.size(); ++i) {
    json["bad"].push_back({{"path", check.bad_paths[i]}, {"reason", check.bad[i].reason}});
  }
  return json;
}

std::string data_check_text(const DataCheck& check) {
  std::size_t width = std::string("class").size();
  for (const std::string& name : check.classes) width = std::max(width, name.size());
  std::string text = fmt::format("{}: {} images in {} classes (largest / smallest class: {:.2f})\n",
                                 check.data.string(), check.images, check.classes.size(),
                                 imbalance_ratio(check.counts));
  for (std::size_t c = 0; c < check.classes.size(); ++c) {
    text += fmt::format("  {:<{}}  {:>8}\n", check.classes[c], width, check.counts[c]);
  }
  text += fmt::format("width {} / {} / {}, height {} / {} / {} (min / median / max)\n",
                      check.width.min, check.width.median, check.width.max, check.height.min,
                      check.height.median, check.height.max);
  if (check.skipped_files > 0) {
    text += fmt::format("{} hidden or non-image files left out\n", check.skipped_files);
  }
  if (check.bad.empty()) return text + "no bad images\n";
  text += fmt::format("{} bad images:\n", check.bad.size());
  for (std::size_t i = 0; i < check.bad.size(); ++i) {
    text += fmt::format("  {}: {}\n", check.bad_paths[i], check.bad[i].reason);
  }
  return text;
}

}  // namespace ftl
