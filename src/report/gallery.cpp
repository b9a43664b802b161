#include "ftl/report/gallery.h"

#include <spdlog/fmt/fmt.h>

#include <cctype>

#include "ftl/image/png_writer.h"
#include "ftl/image/thumbnail.h"
#include "ftl/report/svg_chart.h"
#include "ftl/util/base64.h"

namespace ftl {
namespace {

constexpr const char* kGalleryStyle = R"(
.gallery { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 16px; }
.shot { margin: 0; width: 120px; font-size: 11px; line-height: 1.35; color: #333; }
.shot img, .shot .gone { display: block; border: 1px solid #ccc; image-rendering: pixelated; }
.shot .gone { box-sizing: border-box; padding: 4px; overflow: hidden; word-break: break-all;
              background: #f3f3f3; color: #a33; font-size: 10px; }
.shot figcaption b { font-weight: 600; }
.shot .said { color: #b3261e; }
)";

std::string png_uri(const Image& image) {
  return "data:image/png;base64," + base64_encode(encode_png(image));
}

// The picture of one image, or the placeholder of one that could not be read again.
std::string picture(const GalleryImage& image) {
  if (image.thumbnail.width == 0) {
    return fmt::format(
        "<div class=\"gone\" style=\"width:{0}px;height:{0}px\">cannot show: {1}</div>",
        kThumbnailSide, xml_escape(image.missing.empty() ? image.path.string() : image.missing));
  }
  return fmt::format(
      "<a href=\"{0}\" title=\"{1}\"><img src=\"{2}\" width=\"{3}\" height=\"{4}\" "
      "alt=\"{5}, predicted {6}\"></a>",
      xml_escape(file_url(image.path)), xml_escape(image.path.string()), png_uri(image.thumbnail),
      image.thumbnail.width, image.thumbnail.height, xml_escape(image.truth),
      xml_escape(image.predicted));
}

std::string shot(const GalleryImage& image) {
  return fmt::format(
      "<figure class=\"shot\">{0}<figcaption>true <b>{1}</b><br><span class=\"said\">predicted "
      "<b>{2}</b> {3:.4f}</span><br>loss {4:.4f}</figcaption></figure>\n",
      picture(image), xml_escape(image.truth), xml_escape(image.predicted), image.confidence,
      image.loss);
}

std::string grid(const std::vector<GalleryImage>& images) {
  std::string html = "<div class=\"gallery\">\n";
  for (const GalleryImage& image : images) html += shot(image);
  return html + "</div>\n";
}

bool unreserved(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
}

}  // namespace

std::string gallery_style() { return kGalleryStyle; }

std::string file_url(const std::filesystem::path& path) {
  std::string url = "file://";
  for (const char c : std::filesystem::absolute(path).lexically_normal().string()) {
    const auto byte = static_cast<unsigned char>(c);
    url += unreserved(byte) ? std::string(1, c) : fmt::format("%{:02X}", byte);
  }
  return url;
}

std::string gallery_html(const Gallery& gallery) {
  std::string html = "<h3>Highest losses</h3>\n";
  if (!gallery.unavailable.empty()) {
    return html + "<p class=\"note\">" + xml_escape(gallery.unavailable) + "</p>\n";
  }
  if (gallery.mistakes == 0) {
    return html + "<p class=\"note\">No mistakes: every image was classified right.</p>\n";
  }
  html += fmt::format(
      "<p class=\"note\">The {} of {} misclassified images with the highest loss, as the "
      "network saw them (after the eval transform). Hover for the path; click for the "
      "original.</p>\n",
      gallery.top_losses.size(), gallery.mistakes);
  html += grid(gallery.top_losses);
  html += "<h3>Worst confusions as pictures</h3>\n";
  for (const ConfusionGallery& confusion : gallery.confusions) {
    html += fmt::format(
        "<p class=\"note\"><b>{}</b> predicted as <b>{}</b>: {} images; the {} of highest "
        "loss</p>\n",
        xml_escape(confusion.truth), xml_escape(confusion.predicted), confusion.count,
        confusion.images.size());
    html += grid(confusion.images);
  }
  return html;
}

}  // namespace ftl
