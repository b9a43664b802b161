// Validation split: when a dataset comes as one labelled folder (or manifest), part of each
// class is held out for validation. The split is stratified, depends only on the seed and the
// files, and is written out as two CSV manifests that can be reused as data.train and data.val.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "ftl/data/dataset.h"

namespace ftl {

struct Split {
  ImageFolder train;
  ImageFolder val;
};

/// Holds out round(n x val_fraction) images of each class of n images (at least 1 and at most
/// n - 1 when n >= 2; none of a class with one image), chosen by a Fisher-Yates shuffle seeded
/// by `seed` with std::mt19937_64, whose output the C++ standard fixes: the same split on every
/// platform. Both parts keep every class and the dataset's order.
Split split_dataset(const ImageFolder& data, double val_fraction, std::uint64_t seed);

/// Writes `data` as a CSV manifest (path,label; absolute paths), atomically.
void write_manifest(const ImageFolder& data, const std::filesystem::path& path);

}  // namespace ftl
