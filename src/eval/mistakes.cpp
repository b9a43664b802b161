#include "ftl/eval/mistakes.h"

#include <algorithm>
#include <optional>

#include "ftl/eval/evaluation_output.h"
#include "ftl/image/preprocess.h"
#include "ftl/image/thumbnail.h"
#include "ftl/util/errors.h"

namespace ftl {
namespace {

// Higher loss first; at equal loss, the image found first.
bool stronger(const Mistake& a, const Mistake& b) {
  return a.loss != b.loss ? a.loss > b.loss : a.index < b.index;
}

// The thumbnail of a file read again through the eval transform; `missing` says why not.
Image thumbnail_from_file(const std::filesystem::path& path, const Preprocess& preprocess,
                          std::string& missing) {
  try {
    const torch::Tensor input =
        torch::empty({3, preprocess.image_size, preprocess.image_size}, torch::kFloat32);
    preprocess_into(read_image(path, decode_options(preprocess)), preprocess, input);
    return thumbnail(input_view(input, preprocess));
  } catch (const DataError& error) {
    missing = error.what();
    return {};
  }
}

}  // namespace

MistakeCollector::MistakeCollector(std::size_t top_losses, Preprocess preprocess,
                                   std::size_t keep_limit)
    : top_limit_(top_losses), preprocess_(std::move(preprocess)), keep_limit_(keep_limit) {}

bool MistakeCollector::insert(std::vector<Mistake>& list, std::size_t limit, const Mistake& mistake,
                              std::optional<Mistake>& evicted) {
  if (limit == 0) return false;
  if (list.size() == limit && !stronger(mistake, list.back())) return false;
  list.insert(std::upper_bound(list.begin(), list.end(), mistake, stronger), mistake);
  if (list.size() > limit) {
    evicted = list.back();
    list.pop_back();
  }
  return true;
}

bool MistakeCollector::chosen(const Mistake& mistake) const {
  const auto same = [&mistake](const Mistake& other) { return other.index == mistake.index; };
  const auto pair = by_confusion_.find({mistake.truth, mistake.predicted});
  return std::any_of(top_.begin(), top_.end(), same) ||
         (pair != by_confusion_.end() &&
          std::any_of(pair->second.begin(), pair->second.end(), same));
}

void MistakeCollector::offer(const Mistake& mistake, const torch::Tensor& input) {
  ++mistakes_;
  if (top_limit_ == 0) return;  // no gallery: nothing is chosen
  std::optional<Mistake> out_of_top;
  std::optional<Mistake> out_of_pair;
  const bool in_top = insert(top_, top_limit_, mistake, out_of_top);
  const bool in_pair = insert(by_confusion_[{mistake.truth, mistake.predicted}], kConfusionExamples,
                              mistake, out_of_pair);
  // An image pushed out of one list may still be in the other; only then is its picture kept.
  for (const std::optional<Mistake>& out : {out_of_top, out_of_pair}) {
    if (out && !chosen(*out)) thumbnails_.erase(out->index);
  }
  // A candidate gets its picture while its input is at hand.
  if ((in_top || in_pair) && thumbnails_.size() < keep_limit_) {
    thumbnails_.emplace(mistake.index, ftl::thumbnail(input_view(input, preprocess_)));
  }
}

std::vector<Mistake> MistakeCollector::top_losses() const { return top_; }

std::vector<Mistake> MistakeCollector::examples(std::int64_t truth, std::int64_t predicted) const {
  const auto found = by_confusion_.find({truth, predicted});
  return found == by_confusion_.end() ? std::vector<Mistake>() : found->second;
}

const Image* MistakeCollector::thumbnail(std::size_t index) const {
  const auto found = thumbnails_.find(index);
  return found == thumbnails_.end() ? nullptr : &found->second;
}

Gallery make_gallery(const MistakeCollector& collector, const nlohmann::ordered_json& report,
                     const std::vector<std::string>& classes, const std::vector<Sample>& samples) {
  Gallery gallery;
  gallery.mistakes = collector.mistakes();
  std::map<std::size_t, GalleryImage> read;  // an image in both parts is read once
  const auto image_of = [&](const Mistake& mistake) {
    GalleryImage image;
    image.path = samples.at(mistake.index).path;
    image.truth = classes.at(static_cast<std::size_t>(mistake.truth));
    image.predicted = classes.at(static_cast<std::size_t>(mistake.predicted));
    image.confidence = mistake.confidence;
    image.loss = mistake.loss;
    if (const Image* kept = collector.thumbnail(mistake.index)) {
      image.thumbnail = *kept;
    } else if (const auto done = read.find(mistake.index); done != read.end()) {
      image = done->second;
    } else {
      image.thumbnail = thumbnail_from_file(image.path, collector.preprocess(), image.missing);
      ++gallery.read_again;
      read.emplace(mistake.index, image);
    }
    return image;
  };
  for (const Mistake& mistake : collector.top_losses()) {
    gallery.top_losses.push_back(image_of(mistake));
  }
  for (const Confusion& confusion : worst_confusions(report, kReportedConfusions)) {
    ConfusionGallery pictures{
        classes.at(confusion.truth), classes.at(confusion.predicted), confusion.count, {}};
    for (const Mistake& mistake :
         collector.examples(static_cast<std::int64_t>(confusion.truth),
                            static_cast<std::int64_t>(confusion.predicted))) {
      pictures.images.push_back(image_of(mistake));
    }
    gallery.confusions.push_back(std::move(pictures));
  }
  return gallery;
}

}  // namespace ftl
