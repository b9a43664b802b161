// The images a run left out (data.on_bad_image "skip"), each with the reason, as
// <run>/bad_images.txt lists them: a line per image, its path, a tab and the reason. A resumed
// run starts from the list its earlier part wrote; in a distributed run rank 0 merges the
// other ranks' lists into its own.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ftl/data/dataset.h"
#include "ftl/data/loader.h"

namespace ftl {

class BadImageLog {
 public:
  /// Adds the images of `data` that `bad` names; returns those not seen before (path, reason).
  std::vector<std::pair<std::string, std::string>> add(const std::vector<BadImage>& bad,
                                                       const ImageFolder& data);
  /// Adds the lines of a bad_images.txt text; returns whether any image was new.
  bool merge(const std::string& text);
  /// The list in bad_images.txt's format, sorted by path.
  std::string text() const;
  std::size_t size() const { return images_.size(); }

 private:
  std::map<std::string, std::string> images_;  // path -> why it was left out
};

}  // namespace ftl
