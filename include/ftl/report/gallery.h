// The mistakes of an evaluation as pictures, for HTML reports: the highest losses as a grid of
// captioned thumbnails and examples of each worst confusion, each thumbnail a PNG inside the
// page (a data: URI), so that the file stays self-contained.
#pragma once

#include <filesystem>
#include <string>

#include "ftl/eval/mistakes.h"

namespace ftl {

/// The CSS rules of gallery_html's classes.
std::string gallery_style();

/// Two parts: "Highest losses" and "Worst confusions as pictures". Each thumbnail is captioned
/// with the true class, the predicted class and its probability, and the loss; its path is its
/// tooltip and a file:// link to the original. An evaluation without mistakes says so; an image
/// that could not be read again is a placeholder naming the path; a gallery that is
/// `unavailable` shows why.
std::string gallery_html(const Gallery& gallery);

/// The file:// URL of a file (RFC 8089): its absolute path, each byte outside the unreserved
/// characters and "/" percent-encoded.
std::string file_url(const std::filesystem::path& path);

}  // namespace ftl
