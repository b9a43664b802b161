// Reading an HTML report back, as a test checks it: the thumbnails embedded as data: URIs and
// the attributes and captions around them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "ftl/image/image.h"

namespace ftl::testing {

/// How often `part` occurs in `text` (overlaps counted).
std::size_t occurrences(const std::string& text, const std::string& part);

/// Base64 (RFC 4648, padded) back to bytes; throws std::invalid_argument on a bad character.
std::string base64_decode(const std::string& text);

/// One thumbnail of a gallery as the page shows it.
struct PageShot {
  std::string path;     // its tooltip (title); empty for a placeholder
  std::string caption;  // the figcaption's text, tags removed
  Image image;          // the embedded PNG decoded by ftl's reader; 0 x 0 for a placeholder
};

/// The <figure class="shot"> elements of `html` in their order.
std::vector<PageShot> page_shots(const std::string& html);

/// The HTML entities xml_escape writes, turned back into characters.
std::string xml_unescape(const std::string& text);

}  // namespace ftl::testing
