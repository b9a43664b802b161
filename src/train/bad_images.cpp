#include "ftl/train/bad_images.h"

#include "ftl/util/text.h"

namespace ftl {

std::vector<std::pair<std::string, std::string>> BadImageLog::add(const std::vector<BadImage>& bad,
                                                                  const ImageFolder& data) {
  std::vector<std::pair<std::string, std::string>> added;
  for (const BadImage& image : bad) {
    const std::string path = data.samples[image.index].path.string();
    if (images_.emplace(path, image.reason).second) added.emplace_back(path, image.reason);
  }
  return added;
}

bool BadImageLog::merge(const std::string& text) {
  bool added = false;
  for (const auto& [path, reason] : tab_separated(text)) {
    added |= images_.emplace(path, reason).second;
  }
  return added;
}

std::string BadImageLog::text() const {
  std::string text;
  for (const auto& [path, reason] : images_) text += path + "\t" + reason + "\n";
  return text;
}

}  // namespace ftl
