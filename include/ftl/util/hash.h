// FNV-1a, 64-bit: a fast, stable hash for fingerprints and cache keys (not for security).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ftl {

class Fnv1a {
 public:
  /// A different basis gives an independent hash of the same bytes (for a wider key).
  explicit Fnv1a(std::uint64_t basis = kOffsetBasis) : hash_(basis) {}

  void add(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) {
      hash_ ^= bytes[i];
      hash_ *= kPrime;
    }
  }
  void add(std::string_view text) { add(text.data(), text.size()); }

  std::uint64_t value() const { return hash_; }

  static constexpr std::uint64_t kOffsetBasis = 14695981039346656037ULL;

 private:
  static constexpr std::uint64_t kPrime = 1099511628211ULL;
  std::uint64_t hash_;
};

}  // namespace ftl
