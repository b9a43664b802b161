// Checkpoints: the complete fine-tuned classifier as a TorchScript file that Python's
// torch.jit.load runs as it is, with ftl's metadata inside it as the extra file "ftl.json".
#pragma once

#include <torch/script.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/image/preprocess.h"
#include "ftl/model/head.h"

namespace ftl {

/// Name of the metadata entry inside the TorchScript archive (torch.jit.load's _extra_files).
inline constexpr const char* kMetadataName = "ftl.json";
/// The metadata's "format": a checkpoint (`ftl finetune`) or an inference network (`ftl export`).
inline constexpr const char* kCheckpointFormatName = "ftl-checkpoint";
inline constexpr const char* kExportFormatName = "ftl-export";
/// Bumped when the metadata changes in a way older readers cannot follow.
inline constexpr int kCheckpointFormatVersion = 1;

struct CheckpointMetadata {
  std::vector<std::string> classes;  // class names in logit index order
  Preprocess preprocess;             // how inputs must be prepared
  std::int64_t epoch = 0;            // epochs completed when saved
  nlohmann::json metrics;            // val_loss, val_acc, train_loss, train_acc of that epoch
  nlohmann::json config;             // the resolved run config
  nlohmann::json training;           // what trained when saved: phase, frozen modules, BN mode
  nlohmann::json exported;           // null for a checkpoint; in a file `ftl export` wrote, what it
                                     // is: format, precision, the source checkpoint and its SHA-256
};

nlohmann::json metadata_to_json(const CheckpointMetadata& metadata);

/// Validates every field; throws ModelError naming `source` and the bad key.
CheckpointMetadata metadata_from_json(const nlohmann::json& json, const std::string& source);

/// The same from the text of the ftl.json entry, which must be valid JSON.
CheckpointMetadata parse_metadata(const std::string& text, const std::string& source);

/// The bytes of a checkpoint file: the module as it is (call it in eval mode; a CUDA module is
/// saved as a CPU copy so that it loads anywhere) with the metadata inside.
std::string serialize_checkpoint(const torch::jit::Module& module,
                                 const CheckpointMetadata& metadata,
                                 const torch::jit::ExtraFilesMap& extra = {});

/// The same bytes streamed straight to `file`, without fsync: the first half of an atomic save
/// (see atomic_temporary). Several times faster than serialising into memory (ResNet-18
/// here: about 0.1 s against 0.6-0.8 s through a string stream and its copy). On failure (a
/// full disk) the file is removed and IoError names `named` (the file the temporary stands
/// for), or `file` when `named` is empty.
void write_checkpoint_file(const torch::jit::Module& module, const CheckpointMetadata& metadata,
                           const torch::jit::ExtraFilesMap& entries,
                           const std::filesystem::path& file,
                           const std::filesystem::path& named = {});

/// Writes the module (as it is: call it in eval mode) and metadata to `path` atomically:
/// write_checkpoint_file into a temporary file in the same folder, then commit_temporary, so a
/// crash or a full disk leaves the previous file intact. Throws IoError naming the path.
void save_checkpoint(const torch::jit::Module& module, const CheckpointMetadata& metadata,
                     const std::filesystem::path& path);

struct Checkpoint {
  torch::jit::Module module;
  CheckpointMetadata metadata;
  torch::jit::ExtraFilesMap extra;  // the entries asked for beside the metadata ("" if absent)
};

/// The model.head that a checkpoint's metadata records (its "training" object's "head"), or
/// "auto" where it records none (checkpoints from before ftl recorded it).
std::string recorded_head(const nlohmann::json& metadata);

/// The checkpoint's head: where its metadata's training.head says (checkpoints before ftl
/// recorded it: model.head "auto"). Throws ModelError naming `source` when it is not there.
Head checkpoint_head(const Checkpoint& checkpoint, const std::string& source);

/// Loads and validates a checkpoint; throws ModelError naming the path when it is missing,
/// truncated, not an ftl checkpoint, or its metadata does not match the network. The archive
/// entries named in `extra_names` are read into Checkpoint::extra. A TorchScript file that
/// `ftl export` wrote loads too (metadata.exported set): its network is frozen, its head a
/// part of one graph, and the export checked its outputs against its checkpoint's.
Checkpoint load_checkpoint(const std::filesystem::path& path, const torch::Device& device,
                           const std::vector<std::string>& extra_names = {});

}  // namespace ftl
