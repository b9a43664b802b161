// A tiny learnable image dataset for tests: three classes of coloured shapes
// (red circles, green squares, blue triangles) on a noisy grey background, written as PNG
// (and a few JPEG) files in ImageFolder layout.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ftl::testing {

inline const std::vector<std::string> kShapeClasses = {"circle", "square", "triangle"};

/// Writes root/<class>/<index>.png for `per_class` images of each class, side x side pixels,
/// with positions, sizes and noise drawn from `seed`.
void write_shapes(const std::filesystem::path& root, int per_class, int side, std::uint32_t seed);

/// The input side of the end-to-end runs on the shapes.
inline constexpr int kShapesInputSide = 32;

/// The data of a run: `train_per_class` images of each class in dir/train drawn from `seed`,
/// and `val_per_class` in dir/val drawn from seed + 1.
void write_shapes_data(const std::filesystem::path& dir, int train_per_class, int val_per_class,
                       std::uint32_t seed, int side = kShapesInputSide);

}  // namespace ftl::testing
