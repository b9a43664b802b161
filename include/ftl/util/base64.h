// Base64 (RFC 4648, with padding) for the images that HTML reports embed as data: URIs.
#pragma once

#include <string>

namespace ftl {

/// `bytes` in the standard alphabet (A-Z a-z 0-9 + /), padded with '=' to a multiple of 4.
std::string base64_encode(const std::string& bytes);

}  // namespace ftl
