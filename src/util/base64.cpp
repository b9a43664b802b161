#include "ftl/util/base64.h"

#include <algorithm>
#include <cstdint>

namespace ftl {
namespace {

constexpr const char* kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::size_t kGroupBytes = 3;  // three bytes become four characters of 6 bits each
constexpr std::uint32_t kSixBits = 0x3F;

}  // namespace

std::string base64_encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + kGroupBytes - 1) / kGroupBytes * 4);
  for (std::size_t at = 0; at < bytes.size(); at += kGroupBytes) {
    const std::size_t n = std::min(kGroupBytes, bytes.size() - at);
    std::uint32_t group = 0;
    for (std::size_t i = 0; i < kGroupBytes; ++i) {
      const auto byte = i < n ? static_cast<std::uint8_t>(bytes[at + i]) : std::uint8_t{0};
      group = (group << 8) | byte;
    }
    // n bytes fill n + 1 characters; the rest of the four are padding.
    for (std::size_t i = 0; i < 4; ++i) {
      out += i <= n ? kAlphabet[(group >> (18 - 6 * i)) & kSixBits] : '=';
    }
  }
  return out;
}

}  // namespace ftl
