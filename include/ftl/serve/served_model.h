// The checkpoint a server answers with: the network, its metadata, and the file's identity
// (name and SHA-256), which every answer carries so that a client knows which model spoke.
// Immutable once loaded; a reload builds a new one and swaps the pointer.
#pragma once

#include <torch/script.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ftl/config/choices.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/inference_network.h"

namespace ftl {

struct ServedModel {
  Checkpoint checkpoint;     // metadata; its module is network.module: one copy of the weights
  InferenceNetwork network;  // what runs (frozen for inference at a precision, on `device`), and
                             // why it is not frozen where it is not
  torch::Device device = torch::kCPU;
  std::string file_name;  // the checkpoint's file name, without its folder
  std::string sha256;     // of the file's bytes, as `sha256sum` prints it
};

/// Loads and verifies the checkpoint as every ftl command does (CRC, metadata; ModelError
/// naming the path), freezes its network for inference at `precision` and hashes the file. The
/// network is not run here: Batcher::warm_up runs its first pass on the pass thread.
std::shared_ptr<const ServedModel> load_served_model(const std::filesystem::path& path,
                                                     const torch::Device& device,
                                                     Precision precision = Precision::kFp32);

/// {"file", "sha256", "epoch", "precision"}: the identity every answer carries.
nlohmann::ordered_json model_identity_json(const ServedModel& model);

}  // namespace ftl
