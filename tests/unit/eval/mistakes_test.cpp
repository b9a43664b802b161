// The mistakes an evaluation pictures: which it chooses, which thumbnails it keeps, and what the
// gallery holds when a file must be read again or has gone.
#include "ftl/eval/mistakes.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "ftl/image/png_writer.h"
#include "ftl/image/preprocess.h"
#include "ftl/image/thumbnail.h"
#include "support/temp_dir.h"

namespace {

constexpr std::int64_t kShotSide = 4;  // the inputs: 4x4

ftl::Preprocess shot_preprocess() {
  ftl::Preprocess preprocess;
  preprocess.image_size = kShotSide;
  preprocess.eval_resize = ftl::EvalResize::kStretch;
  return preprocess;
}

// A 4x4 image of one grey level: the level tells whose thumbnail a picture is.
ftl::Image solid(int level) {
  return {kShotSide, kShotSide,
          std::vector<std::uint8_t>(kShotSide * kShotSide * 3, static_cast<std::uint8_t>(level))};
}

torch::Tensor input_of(int level) {
  const torch::Tensor input = torch::empty({3, kShotSide, kShotSide});
  ftl::preprocess_into(solid(level), shot_preprocess(), input);
  return input;
}

// Twelve mistakes: images 0-7 are class 0 taken for 1, images 8-11 class 1 taken for 0. Image
// i shows grey level 10 * i.
const double kLosses[] = {3, 9, 1, 7, 5, 11, 0, 8, 2, 10, 4, 7};

ftl::Mistake mistake_of(std::size_t i) {
  const bool first_pair = i < 8;
  return {i, first_pair ? 0 : 1, first_pair ? 1 : 0, 0.9, kLosses[i]};
}

void offer_all(ftl::MistakeCollector& collector) {
  for (std::size_t i = 0; i < 12; ++i) {
    collector.offer(mistake_of(i), input_of(static_cast<int>(10 * i)));
  }
}

std::vector<std::size_t> indices(const std::vector<ftl::Mistake>& mistakes) {
  std::vector<std::size_t> out;
  for (const ftl::Mistake& mistake : mistakes) out.push_back(mistake.index);
  return out;
}

// What make_gallery needs besides the collector: the confusion matrix of the twelve.
nlohmann::ordered_json twelve_report() {
  return {{"confusion_matrix", {{0, 8, 0}, {4, 0, 0}, {0, 0, 0}}}};
}

}  // namespace

TEST_CASE("mistakes: the highest losses, and the six of highest loss of each confusion",
          "[mistakes]") {
  ftl::MistakeCollector collector(5, shot_preprocess());
  offer_all(collector);
  CHECK(collector.mistakes() == 12);
  // Image 11 ties image 3 at loss 7: the one found first stays.
  CHECK(indices(collector.top_losses()) == std::vector<std::size_t>{5, 9, 1, 7, 3});
  CHECK(indices(collector.examples(0, 1)) == std::vector<std::size_t>{5, 1, 7, 3, 4, 0});
  CHECK(indices(collector.examples(1, 0)) == std::vector<std::size_t>{9, 11, 10, 8});
  CHECK(collector.examples(2, 0).empty());

  // Every chosen image has its thumbnail, made from its input; those pushed out have none.
  for (const std::size_t kept : std::vector<std::size_t>{0, 1, 3, 4, 5, 7, 8, 9, 10, 11}) {
    const ftl::Image* thumbnail = collector.thumbnail(kept);
    REQUIRE(thumbnail != nullptr);
    CHECK(thumbnail->width == ftl::kThumbnailSide);
    CHECK(thumbnail->pixels == ftl::thumbnail(solid(static_cast<int>(10 * kept))).pixels);
  }
  CHECK(collector.thumbnail(2) == nullptr);
  CHECK(collector.thumbnail(6) == nullptr);

  // A gallery of size 0 chooses nothing, but still counts the mistakes.
  ftl::MistakeCollector off(0, shot_preprocess());
  offer_all(off);
  CHECK(off.mistakes() == 12);
  CHECK(off.top_losses().empty());
  CHECK(off.examples(0, 1).empty());
}

TEST_CASE("mistakes: the gallery names the classes and follows the report's worst confusions",
          "[mistakes]") {
  ftl::MistakeCollector collector(3, shot_preprocess());
  offer_all(collector);
  std::vector<ftl::Sample> samples;
  for (std::size_t i = 0; i < 12; ++i) samples.push_back({"img" + std::to_string(i) + ".png", 0});
  const ftl::Gallery gallery =
      ftl::make_gallery(collector, twelve_report(), {"cat", "dog", "emu"}, samples);
  CHECK(gallery.mistakes == 12);
  CHECK(gallery.read_again == 0);  // every thumbnail was kept while evaluating
  REQUIRE(gallery.top_losses.size() == 3);
  CHECK(gallery.top_losses[0].path == "img5.png");
  CHECK(gallery.top_losses[0].truth == "cat");
  CHECK(gallery.top_losses[0].predicted == "dog");
  CHECK(gallery.top_losses[0].loss == 11);
  CHECK(gallery.top_losses[0].confidence == 0.9);
  CHECK(gallery.top_losses[1].path == "img9.png");
  CHECK(gallery.top_losses[1].truth == "dog");
  REQUIRE(gallery.confusions.size() == 2);  // the largest first
  CHECK(gallery.confusions[0].truth == "cat");
  CHECK(gallery.confusions[0].predicted == "dog");
  CHECK(gallery.confusions[0].count == 8);
  CHECK(gallery.confusions[0].images.size() == 6);
  CHECK(gallery.confusions[1].count == 4);
  CHECK(gallery.confusions[1].images.size() == 4);
  CHECK(gallery.confusions[1].images[0].path == "img9.png");
}

TEST_CASE("mistakes: beyond the kept thumbnails the files are read again, and a gone one is named",
          "[mistakes]") {
  ftl::testing::TempDir dir;
  std::vector<ftl::Sample> samples;
  for (std::size_t i = 0; i < 12; ++i) {
    const std::filesystem::path path = dir / ("img" + std::to_string(i) + ".png");
    std::ofstream(path, std::ios::binary) << ftl::encode_png(solid(static_cast<int>(10 * i)));
    samples.push_back({path, 0});
  }
  ftl::MistakeCollector collector(3, shot_preprocess(), /*keep_limit=*/0);
  offer_all(collector);
  CHECK(collector.thumbnail(5) == nullptr);
  std::filesystem::remove(samples[9].path);  // gone since it was evaluated

  const ftl::Gallery gallery =
      ftl::make_gallery(collector, twelve_report(), {"cat", "dog", "emu"}, samples);
  // Ten images are chosen (5, 9 and 1 twice: as top losses and as examples); each is read once.
  CHECK(gallery.read_again == 10);
  REQUIRE(gallery.top_losses.size() == 3);
  CHECK(gallery.top_losses[0].thumbnail.pixels == ftl::thumbnail(solid(50)).pixels);
  CHECK(gallery.top_losses[0].missing.empty());
  const ftl::GalleryImage& gone = gallery.top_losses[1];
  CHECK(gone.thumbnail.width == 0);
  CHECK(gone.missing == samples[9].path.string() + ": cannot open file: No such file or directory");
  CHECK(gallery.confusions[1].images[0].missing == gone.missing);
}
