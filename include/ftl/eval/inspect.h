// `ftl inspect`: what a TorchScript model or an ftl checkpoint holds, without running it: the
// head, parameter counts, how it was made, and ftl's metadata and resume state when present.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace ftl {

/// The description: path, kind ("scripted" or "traced"), ftl_checkpoint, head
/// {in_features, out_features} (null without a Linear fc), parameters {total, trainable,
/// frozen} (element counts, trainable as saved), tensors; for a checkpoint also classes,
/// num_classes, preprocess, epoch, metrics, config, training, and resume {epochs_done,
/// steps_done, stop_reason} when it carries a resume state. Throws ModelError naming the path.
nlohmann::ordered_json inspect_file(const std::filesystem::path& path);

/// The description as aligned lines for people.
std::string inspect_text(const nlohmann::ordered_json& description);

}  // namespace ftl
