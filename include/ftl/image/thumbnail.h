// Thumbnails of what the network saw, for the galleries of HTML reports: the eval transform's
// output turned back into 8-bit pixels and scaled to a fixed size for viewing.
#pragma once

#include <torch/torch.h>

#include "ftl/config/data_config.h"
#include "ftl/image/image.h"

namespace ftl {

/// Side of the square that thumbnails fit, in pixels: a 32 px input shows at 3x, a 224 px one
/// at about 0.43x.
inline constexpr int kThumbnailSide = 96;

/// A network input (float [3, H, W], normalised by `preprocess`; any device, dtype and strides)
/// as the 8-bit image it was made from: the output of the eval transform before normalisation.
Image input_view(const torch::Tensor& input, const Preprocess& preprocess);

/// `image` scaled so that its longer side is `side`, its aspect kept: nearest neighbour when it
/// grows, so that each input pixel stays a sharp square, and area averaging when it shrinks.
Image thumbnail(const Image& image, int side = kThumbnailSide);

}  // namespace ftl
