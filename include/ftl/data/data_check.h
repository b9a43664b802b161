// `ftl data check`: reads every image of a dataset (ImageFolder or CSV manifest) once, in
// parallel, before any training time is spent, and says what is there and what is broken.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/data/loader.h"

namespace ftl {

struct DataCheckOptions {
  std::filesystem::path data;  // ImageFolder root or CSV manifest
  std::int64_t workers = 0;    // decoding threads; 0 = number of cores
};

/// The smallest, median and largest of a list of image sides.
struct SideSpread {
  int min = 0;
  int median = 0;
  int max = 0;
};

struct DataCheck {
  std::filesystem::path data;
  std::vector<std::string> classes;
  std::vector<std::int64_t> counts;  // images per class, in class order
  std::int64_t images = 0;           // images listed
  std::int64_t skipped_files = 0;    // hidden files and non-images left out of a folder scan
  SideSpread width;                  // over the images that decode
  SideSpread height;
  std::vector<BadImage> bad;           // in dataset order; index into the dataset's samples
  std::vector<std::string> bad_paths;  // the path of each bad image
};

/// Decodes every image. Throws DataError only when the dataset itself cannot be read (missing
/// folder, bad manifest); a broken image is listed in DataCheck::bad with its reason.
DataCheck check_data(const DataCheckOptions& options);

/// The check as JSON: data, images, classes {name: count}, imbalance (largest class over
/// smallest), skipped_files, width and height {min, median, max}, bad [{path, reason}].
nlohmann::ordered_json data_check_json(const DataCheck& check);

/// The check as text for people: counts per class, sizes, and every bad file with its reason.
std::string data_check_text(const DataCheck& check);

}  // namespace ftl
