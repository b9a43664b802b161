// A tiny learnable image dataset for end-to-end tests: three classes of coloured shapes
// (red circles, green squares, blue triangles) on a noisy grey background, written as PNG
// (and a few JPEG) files in ImageFolder layout.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace ftl::testing {

inline const std::vector<std::string> kShapeClasses = {"circle", "square", "triangle"};

/// Writes root/<class>/<index>.png for `per_class` images of each class, side x side pixels,
/// with positions, sizes and noise drawn from `seed`.
void write_shapes(const std::filesystem::path& root, int per_class, int side, std::uint32_t seed);

}  // namespace ftl::testing
