// Small text helpers that several areas need.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ftl {

/// The items separated by ", ".
template <typename Range>
std::string join(const Range& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + std::string(item);
  return out;
}

/// The whole content of a file; "" when it does not exist or cannot be read.
std::string read_text_file(const std::filesystem::path& path);

/// The lines of `text` that hold a tab, split at their first tab (bad_images.txt's format).
std::vector<std::pair<std::string, std::string>> tab_separated(const std::string& text);

/// The Levenshtein distance between a and b: what suggests the key or the name a user meant.
std::size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace ftl
