#include "support/shapes.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "support/image_files.h"

namespace fs = std::filesystem;

namespace ftl::testing {
namespace {

constexpr int kBackground = 128;  // grey level behind the shape
constexpr int kNoise = 20;        // +- uniform noise on every sample
/// Every fifth image is a JPEG, so training also goes through the JPEG decoder.
constexpr int kJpegEvery = 5;
constexpr int kJpegQuality = 95;

bool inside(std::size_t shape, double x, double y, double cx, double cy, double r) {
  const double dx = x - cx;
  const double dy = y - cy;
  switch (shape) {
    case 0:
      return dx * dx + dy * dy <= r * r;
    case 1:
      return std::abs(dx) <= r && std::abs(dy) <= r;
    default:  // triangle pointing up
      return dy <= r && dy >= -r && std::abs(dx) <= (dy + r) / 2;
  }
}

}  // namespace

void write_shapes(const fs::path& root, int per_class, int side, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> noise(-kNoise, kNoise);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (std::size_t shape = 0; shape < kShapeClasses.size(); ++shape) {
    const fs::path folder = root / kShapeClasses[shape];
    fs::create_directories(folder);
    for (int index = 0; index < per_class; ++index) {
      const double r = side * (0.2 + 0.15 * unit(random));
      const double cx = r + (side - 2 * r) * unit(random);
      const double cy = r + (side - 2 * r) * unit(random);
      std::vector<std::uint8_t> pixels(static_cast<std::size_t>(side * side * 3));
      for (int y = 0; y < side; ++y) {
        for (int x = 0; x < side; ++x) {
          const bool on = inside(shape, x + 0.5, y + 0.5, cx, cy, r);
          for (std::size_t c = 0; c < 3; ++c) {
            const int base = on ? (c == shape ? 230 : 30) : kBackground;
            const int value = std::clamp(base + noise(random), 0, 255);
            pixels[static_cast<std::size_t>((y * side + x) * 3) + c] =
                static_cast<std::uint8_t>(value);
          }
        }
      }
      const std::string name = std::to_string(index);
      if (index % kJpegEvery == kJpegEvery - 1) {
        write_jpeg(folder / (name + ".jpg"), side, side, 3, kJpegQuality, pixels);
      } else {
        write_png(folder / (name + ".png"), side, side, 3,
                  std::vector<std::uint16_t>(pixels.begin(), pixels.end()));
      }
    }
  }
}

void write_shapes_data(const fs::path& dir, int train_per_class, int val_per_class,
                       std::uint32_t seed, int side) {
  write_shapes(dir / "train", train_per_class, side, seed);
  write_shapes(dir / "val", val_per_class, side, seed + 1);
}

}  // namespace ftl::testing
