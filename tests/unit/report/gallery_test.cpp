// The gallery of mistakes in a report: the thumbnails as embedded PNGs in loss order with their
// captions, placeholders, an evaluation without mistakes, and nothing loaded from outside.
#include "ftl/report/gallery.h"

#include <catch2/catch.hpp>

#include "ftl/image/thumbnail.h"
#include "ftl/report/report.h"
#include "support/page.h"
#include "support/samples.h"

using Catch::Matchers::Contains;
using ftl::testing::occurrences;

namespace {

ftl::Image solid_thumbnail(std::uint8_t red, std::uint8_t green, std::uint8_t blue) {
  ftl::Image image{ftl::kThumbnailSide, ftl::kThumbnailSide, {}};
  for (int i = 0; i < ftl::kThumbnailSide * ftl::kThumbnailSide; ++i) {
    image.pixels.insert(image.pixels.end(), {red, green, blue});
  }
  return image;
}

ftl::GalleryImage shown(const std::string& path, const std::string& truth,
                        const std::string& predicted, double confidence, double loss,
                        std::uint8_t level) {
  return {path, truth, predicted, confidence, loss, solid_thumbnail(level, 0, 255 - level), ""};
}

// Three top losses (one gone since), and two confusions with two and one examples.
ftl::Gallery three_shots() {
  ftl::Gallery gallery;
  gallery.mistakes = 7;
  gallery.top_losses = {shown("/data/cat/a b#1.png", "cat", "<b>&co", 0.98, 4.25, 10),
                        shown("/data/emu/2.png", "emu", "cat", 0.91, 3.5, 20),
                        {"/data/cat/3.png", "cat", "emu", 0.8, 2.0, {}, "/data/cat/3.png: gone"}};
  gallery.confusions = {{"cat", "<b>&co", 4, {gallery.top_losses[0], gallery.top_losses[2]}},
                        {"emu", "cat", 3, {gallery.top_losses[1]}}};
  return gallery;
}

}  // namespace

TEST_CASE("gallery: thumbnails in loss order, captioned, linked and decodable", "[gallery]") {
  const std::string html = ftl::gallery_html(three_shots());
  // Two pictures in each part; the gone image is a placeholder in both.
  CHECK(occurrences(html, "src=\"data:image/png;base64,") == 4);
  CHECK(occurrences(html, "class=\"gone\"") == 2);
  const std::vector<ftl::testing::PageShot> shots = ftl::testing::page_shots(html);
  REQUIRE(shots.size() == 6);
  CHECK(shots[0].caption == "true cat predicted <b>&co 0.9800 loss 4.2500");
  CHECK(shots[0].path == "/data/cat/a b#1.png");
  CHECK(shots[0].image.width == ftl::kThumbnailSide);
  CHECK(shots[0].image.height == ftl::kThumbnailSide);
  CHECK(shots[0].image.pixels == solid_thumbnail(10, 0, 245).pixels);
  CHECK(shots[1].caption == "true emu predicted cat 0.9100 loss 3.5000");
  CHECK(shots[1].image.pixels == solid_thumbnail(20, 0, 235).pixels);
  CHECK(shots[2].caption == "true cat predicted emu 0.8000 loss 2.0000");
  CHECK(shots[2].image.width == 0);
  CHECK_THAT(html, Contains("cannot show: /data/cat/3.png: gone"));
  CHECK_THAT(html, Contains("href=\"file:///data/cat/a%20b%231.png\""));
  CHECK_THAT(html, Contains("<b>cat</b> predicted as <b>&lt;b&gt;&amp;co</b>: 4 images"));
  CHECK_THAT(html, Contains("The 3 of 7 misclassified images with the highest loss"));
  CHECK_FALSE(Contains("<b>&co").match(html));  // a class name is never markup
}

TEST_CASE("gallery: no mistakes, no pictures to show, file URLs", "[gallery]") {
  ftl::Gallery none;
  const std::string perfect = ftl::gallery_html(none);
  CHECK_THAT(perfect, Contains("No mistakes: every image was classified right."));
  CHECK(occurrences(perfect, "<figure") == 0);
  none.unavailable = "No pictures: read from a file.";
  CHECK_THAT(ftl::gallery_html(none), Contains("<p class=\"note\">No pictures: read from a file."));

  CHECK(ftl::file_url("/tmp/a b/ü?.png") == "file:///tmp/a%20b/%C3%BC%3F.png");
  CHECK(ftl::file_url("/x/./y/../z.png") == "file:///x/z.png");
  CHECK(ftl::file_url("rel.png") == ftl::file_url(std::filesystem::current_path() / "rel.png"));
}

TEST_CASE("gallery: the page with pictures loads nothing from outside itself", "[gallery]") {
  const ftl::Gallery gallery = three_shots();
  const std::string html = ftl::evaluation_report_html(ftl::testing::sample_evaluation(), gallery);
  CHECK_THAT(html, Contains("Highest losses") && Contains("Worst confusions as pictures"));
  // Every src is an embedded PNG; the only links are file:// ones to the originals.
  CHECK(occurrences(html, "src=") == occurrences(html, "src=\"data:image/png;base64,"));
  CHECK(occurrences(html, "href=") == occurrences(html, "href=\"file:///"));
  CHECK(occurrences(html, "http") == occurrences(html, "http://www.w3.org/2000/svg"));
  CHECK(occurrences(html, "<script") == 0);
  CHECK(occurrences(html, "url(") == 0);
  CHECK(occurrences(html, "@import") == 0);
}
