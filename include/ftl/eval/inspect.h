// `ftl inspect`: what a TorchScript model or an ftl checkpoint holds, without running it: the
// head, parameter counts, how it was made, and ftl's metadata and resume state when present.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace ftl {

/// The description: path, kind ("scripted" or "traced"), ftl_checkpoint, head
/// {in_features, out_features} (null without a Linear fc), parameters {total, trainable,
/// frozen} (element counts, trainable as saved), tensors; for a checkpoint also classes,
/// num_classes, preprocess, epoch, metrics, config, training, and resume {epochs_done,
/// steps_done, stop_reason} when it carries a resume state. With `groups`, also the groups
/// that optimizer.layer_decay makes (layer_depth.h): {layer_decay, max_depth, depths: [{depth,
/// scale, tensors, parameters, first, last}]} at `layer_decay`, which defaults to the
/// checkpoint's optimizer.layer_decay where it is below 1, else kShownLayerDecay; or
/// groups_error where no head is found. Throws ModelError naming the path.
nlohmann::ordered_json inspect_file(const std::filesystem::path& path, bool groups = false,
                                    std::optional<double> layer_decay = std::nullopt);

/// The decay `ftl inspect --groups` shows by default: timm's and BEiT's usual value for ViT.
inline constexpr double kShownLayerDecay = 0.75;

/// The description as aligned lines for people.
std::string inspect_text(const nlohmann::ordered_json& description);

}  // namespace ftl
