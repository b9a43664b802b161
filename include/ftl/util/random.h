// Small, portable random numbers for data pipelines. The standard distributions
// (std::uniform_real_distribution, std::shuffle) differ between standard libraries, so a run
// would not repeat across compilers; these are defined bit for bit here.
#pragma once

#include <cstdint>

namespace ftl {

/// splitmix64's increment (2^64 / golden ratio).
inline constexpr std::uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;

/// One splitmix64 step: mixes a value into a well-spread 64-bit hash. Used to derive
/// independent seeds from (seed, epoch, sample index).
inline std::uint64_t mix64(std::uint64_t value) {
  value += kGoldenGamma;
  value = (value ^ (value >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  value = (value ^ (value >> 27U)) * 0x94D049BB133111EBULL;
  return value ^ (value >> 31U);
}

/// A splitmix64 generator: cheap to seed per sample, which keeps each image's random
/// augmentation independent of which worker thread prepares it.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    const std::uint64_t value = state_;
    state_ += kGoldenGamma;
    return mix64(value);
  }

  /// Uniform in [0, 1), from the top 53 bits.
  double uniform() {
    constexpr double kTwoToMinus53 = 1.0 / 9007199254740992.0;
    return static_cast<double>(next() >> 11U) * kTwoToMinus53;
  }

  /// Uniform in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }

  /// Uniform integer in [0, n), n >= 1 (the modulo bias is below 2^-40 for image sizes).
  std::uint64_t below(std::uint64_t n) { return next() % n; }

 private:
  std::uint64_t state_;
};

}  // namespace ftl
