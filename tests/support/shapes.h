// A tiny learnable image dataset for end-to-end tests: three classes of coloured shapes
// (red circles, green squares, blue triangles) on a noisy grey background, written as PNG
// (and a few JPEG) files in ImageFolder layout.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ftl/config/config.h"

namespace ftl::testing {

inline const std::vector<std::string> kShapeClasses = {"circle", "square", "triangle"};

/// Writes root/<class>/<index>.png for `per_class` images of each class, side x side pixels,
/// with positions, sizes and noise drawn from `seed`.
void write_shapes(const std::filesystem::path& root, int per_class, int side, std::uint32_t seed);

/// The input side of the end-to-end runs on the shapes.
inline constexpr int kShapesInputSide = 32;

/// A short run on shapes written to dir/train and dir/val, into dir/run: the ResNet-18 fixture,
/// 32px inputs, batches of 16, 2 workers and threads, lr 0.01, 3 epochs.
ftl::Config shapes_config(const std::filesystem::path& dir, const std::string& run);

}  // namespace ftl::testing
