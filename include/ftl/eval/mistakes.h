// The misclassified images that a report shows as pictures: those with the highest loss, and
// examples of each of the worst confusions. They are chosen while the evaluation runs, and the
// network's input view of each candidate is kept then as a thumbnail, so that the report needs
// no second decode of the images (up to kKeptThumbnails of them; beyond it, a chosen image is
// read again from its file).
#pragma once

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ftl/config/data_config.h"
#include "ftl/data/dataset.h"
#include "ftl/image/image.h"

namespace ftl {

/// How many of the largest confusions a report lists and illustrates.
inline constexpr std::size_t kReportedConfusions = 10;
/// Example images shown for each of them: those with the highest loss.
inline constexpr std::size_t kConfusionExamples = 6;
/// Thumbnails an evaluation keeps at most (96 x 96 RGB, 27 KB each: 28 MB in all).
inline constexpr std::size_t kKeptThumbnails = 1024;
/// Images in the gallery of the highest losses unless asked otherwise, and at most (a page of
/// 1,000 thumbnails is already a few megabytes).
inline constexpr std::size_t kDefaultGallery = 24;
inline constexpr std::size_t kMaxGallery = 1000;

/// An image the network got wrong.
struct Mistake {
  std::size_t index = 0;       // position in the sample list
  std::int64_t truth = 0;      // true class index
  std::int64_t predicted = 0;  // class index with the highest logit
  double confidence = 0;       // the predicted class's softmax probability
  double loss = 0;             // cross-entropy of the true class
};

/// Chooses, among the mistakes offered to it, the `top_losses` with the highest loss and the
/// kConfusionExamples with the highest loss of each (true, predicted) pair, keeping the
/// thumbnail of each candidate while there is room. Ties go to the image found first.
class MistakeCollector {
 public:
  MistakeCollector(std::size_t top_losses, Preprocess preprocess,
                   std::size_t keep_limit = kKeptThumbnails);

  /// One mistake, with the input the network was given for it (float [3, S, S], normalised).
  void offer(const Mistake& mistake, const torch::Tensor& input);

  std::int64_t mistakes() const { return mistakes_; }  // offered so far
  /// The highest losses, highest first.
  std::vector<Mistake> top_losses() const;
  /// The examples of one confusion, highest loss first; empty when there was none.
  std::vector<Mistake> examples(std::int64_t truth, std::int64_t predicted) const;
  /// The kept thumbnail of a sample; null when it was not kept.
  const Image* thumbnail(std::size_t index) const;
  const Preprocess& preprocess() const { return preprocess_; }

 private:
  // Inserts into a list ordered strongest first, when the mistake is among its `limit`
  // strongest; true when it was, and then `evicted` holds the one it pushed out, if any.
  static bool insert(std::vector<Mistake>& list, std::size_t limit, const Mistake& mistake,
                     std::optional<Mistake>& evicted);
  // Whether a sample is in the top losses or among its confusion's examples.
  bool chosen(const Mistake& mistake) const;

  std::size_t top_limit_;
  Preprocess preprocess_;
  std::size_t keep_limit_;
  std::int64_t mistakes_ = 0;
  std::vector<Mistake> top_;
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<Mistake>> by_confusion_;
  std::map<std::size_t, Image> thumbnails_;
};

/// A gallery image: what the evaluation said of it, and what the network saw.
struct GalleryImage {
  std::filesystem::path path;
  std::string truth;  // class names
  std::string predicted;
  double confidence = 0;  // of the predicted class
  double loss = 0;
  Image thumbnail;      // empty (0 x 0) when the file could not be read again
  std::string missing;  // then: why, naming the path
};

/// One of the worst confusions and its examples.
struct ConfusionGallery {
  std::string truth;
  std::string predicted;
  std::int64_t count = 0;  // images of this class predicted as that one
  std::vector<GalleryImage> images;
};

/// The pictures of a report.
struct Gallery {
  std::int64_t mistakes = 0;                 // images the evaluation got wrong
  std::vector<GalleryImage> top_losses;      // highest loss first
  std::vector<ConfusionGallery> confusions;  // the report's worst confusions, largest first
  std::size_t read_again = 0;                // thumbnails made from the files again
  std::string unavailable;                   // non-empty: why there are no pictures (shown instead)
};

/// The gallery of what `collector` chose, the worst confusions being those of `report`
/// (worst_confusions, kReportedConfusions). A candidate whose thumbnail was not kept is read
/// again through the eval transform; one whose file is gone or unreadable is kept with
/// `missing` set, and the report shows a placeholder for it.
Gallery make_gallery(const MistakeCollector& collector, const nlohmann::ordered_json& report,
                     const std::vector<std::string>& classes, const std::vector<Sample>& samples);

}  // namespace ftl
