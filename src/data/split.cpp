#include "ftl/data/split.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "ftl/util/csv.h"
#include "ftl/util/files.h"

namespace fs = std::filesystem;

namespace ftl {

Split split_dataset(const ImageFolder& data, double val_fraction, std::uint64_t seed) {
  std::vector<std::vector<std::size_t>> by_class(data.classes.size());
  for (std::size_t i = 0; i < data.samples.size(); ++i) {
    by_class[static_cast<std::size_t>(data.samples[i].label)].push_back(i);
  }
  std::mt19937_64 generator(seed);
  std::vector<bool> held_out(data.samples.size(), false);
  for (std::vector<std::size_t>& members : by_class) {
    const std::size_t n = members.size();
    if (n < 2) continue;
    const auto wanted =
        static_cast<std::size_t>(std::lround(static_cast<double>(n) * val_fraction));
    const std::size_t count = std::clamp<std::size_t>(wanted, 1, n - 1);
    // Fisher-Yates by hand: std::shuffle's algorithm differs between standard libraries.
    for (std::size_t i = n - 1; i > 0; --i) {
      const std::size_t j = static_cast<std::size_t>(generator() % (i + 1));
      std::swap(members[i], members[j]);
    }
    for (std::size_t k = 0; k < count; ++k) held_out[members[k]] = true;
  }
  Split split;
  for (ImageFolder* part : {&split.train, &split.val}) {
    part->root = data.root;
    part->classes = data.classes;
    part->skipped_files = data.skipped_files;
  }
  for (std::size_t i = 0; i < data.samples.size(); ++i) {
    (held_out[i] ? split.val : split.train).samples.push_back(data.samples[i]);
  }
  return split;
}

void write_manifest(const ImageFolder& data, const fs::path& path) {
  std::string csv = "path,label\n";
  for (const Sample& sample : data.samples) {
    csv += csv_field(fs::absolute(sample.path).lexically_normal().string()) + "," +
           csv_field(data.classes[static_cast<std::size_t>(sample.label)]) + "\n";
  }
  write_file_atomic(path, csv);
}

}  // namespace ftl
