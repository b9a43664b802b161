#include "ftl/model/checkpoint.h"

#include <torch/csrc/jit/serialization/export.h>

#include <future>
#include <set>
#include <sstream>

#include "ftl/model/archive.h"
#include "ftl/model/head.h"
#include "ftl/util/errors.h"
#include "ftl/util/files.h"
#include "ftl/util/strict_json.h"
#include "ftl/version.h"

namespace fs = std::filesystem;

namespace ftl {

nlohmann::json metadata_to_json(const CheckpointMetadata& metadata) {
  const bool exported = !metadata.exported.is_null();
  nlohmann::json json = {{"format", exported ? kExportFormatName : kCheckpointFormatName},
                         {"format_version", kCheckpointFormatVersion},
                         {"ftl_version", kVersion},
                         {"classes", metadata.classes},
                         {"epoch", metadata.epoch},
                         {"metrics", metadata.metrics},
                         {"config", metadata.config}};
  if (!metadata.training.is_null()) json["training"] = metadata.training;
  if (exported) json["export"] = metadata.exported;
  json.update(preprocess_to_json(metadata.preprocess));
  return json;
}

namespace {

/// Every key metadata_to_json writes, those of the preprocessing included.
std::vector<std::string> metadata_keys() {
  std::vector<std::string> keys = {"format",  "format_version", "ftl_version", "classes", "epoch",
                                   "metrics", "config",         "training",    "export"};
  const nlohmann::json preprocess = preprocess_to_json(Preprocess{});  // outlives the loop
  for (const auto& item : preprocess.items()) keys.push_back(item.key());
  return keys;
}

}  // namespace

CheckpointMetadata metadata_from_json(const nlohmann::json& json, const std::string& source) {
  const std::string where = source + ": " + kMetadataName + ": ";
  if (!json.is_object()) throw ModelError(where + "not a JSON object");
  refuse_unknown_keys(json, metadata_keys(), where);
  CheckpointMetadata metadata;
  try {
    json.at("ftl_version").get<std::string>();
    const std::string format = json.at("format").get<std::string>();
    if (format != kCheckpointFormatName && format != kExportFormatName) {
      throw ModelError(where + "format is not \"" + kCheckpointFormatName + "\" or \"" +
                       kExportFormatName + "\"");
    }
    if ((format == kExportFormatName) != json.contains("export")) {
      throw ModelError(where + "format \"" + format + "\" goes with " +
                       (json.contains("export") ? "no" : "an") + " \"export\" object");
    }
    if (json.contains("export")) metadata.exported = json.at("export");
    const int version = json.at("format_version").get<int>();
    if (version > kCheckpointFormatVersion) {
      throw ModelError(where + "format_version " + std::to_string(version) +
                       " is newer than this ftl reads (" +
                       std::to_string(kCheckpointFormatVersion) + "); upgrade ftl");
    }
    metadata.classes = json.at("classes").get<std::vector<std::string>>();
    metadata.epoch = json.at("epoch").get<std::int64_t>();
    metadata.metrics = json.at("metrics");
    metadata.config = json.at("config");
    if (json.contains("training")) metadata.training = json.at("training");
  } catch (const nlohmann::json::exception& error) {
    throw ModelError(where + error.what());
  }
  require_at_least(metadata.epoch, 0, "epoch", where);
  // Metrics are null in a mid-epoch save before the first epoch has ended.
  if (!metadata.metrics.is_null() && !metadata.metrics.is_object()) {
    throw ModelError(where + "metrics is not an object");
  }
  for (const auto& item : metadata.metrics.items()) {
    // A metric that was not finite is written as null.
    if (!item.value().is_number() && !item.value().is_null()) {
      throw ModelError(where + "metrics." + item.key() + " is not a number");
    }
  }
  // A checkpoint saved outside a run (through the core library) has no run config.
  if (!metadata.config.is_null() && !metadata.config.is_object()) {
    throw ModelError(where + "config is not an object");
  }
  if (!metadata.training.is_null() && !metadata.training.is_object()) {
    throw ModelError(where + "training is not an object");
  }
  if (!metadata.exported.is_null() && !metadata.exported.is_object()) {
    throw ModelError(where + "export is not an object");
  }
  if (metadata.classes.empty()) throw ModelError(where + "classes is empty");
  const std::set<std::string> unique(metadata.classes.begin(), metadata.classes.end());
  if (unique.size() != metadata.classes.size()) {
    throw ModelError(where + "classes holds a name twice");
  }
  try {
    metadata.preprocess = preprocess_from_json(json);
  } catch (const ModelError& error) {
    throw ModelError(where + error.what());
  }
  return metadata;
}

CheckpointMetadata parse_metadata(const std::string& text, const std::string& source) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& parse_error) {  // also numbers beyond a double
    throw ModelError(source + ": " + kMetadataName + " is not valid JSON: " + parse_error.what());
  }
  return metadata_from_json(json, source);
}

namespace {

// What a checkpoint saves: the module itself, or a CPU copy of a CUDA one, so that every
// checkpoint loads on a machine without a GPU.
torch::jit::Module saveable(const torch::jit::Module& module) {
  for (const torch::Tensor& parameter : module.parameters()) {
    if (parameter.is_cpu()) continue;
    torch::jit::Module copy = module.deepcopy();
    copy.to(torch::kCPU);
    return copy;
  }
  return module;
}

torch::jit::ExtraFilesMap with_metadata(const CheckpointMetadata& metadata,
                                        const torch::jit::ExtraFilesMap& entries) {
  torch::jit::ExtraFilesMap extra = entries;
  extra[kMetadataName] = metadata_to_json(metadata).dump(2);
  return extra;
}

}  // namespace

std::string serialize_checkpoint(const torch::jit::Module& module,
                                 const CheckpointMetadata& metadata,
                                 const torch::jit::ExtraFilesMap& entries) {
  std::ostringstream bytes;
  try {
    saveable(module).save(bytes, with_metadata(metadata, entries));
  } catch (const c10::Error& error) {
    throw IoError(std::string("cannot serialise checkpoint: ") + error.what_without_backtrace());
  }
  return bytes.str();
}

void write_checkpoint_file(const torch::jit::Module& module, const CheckpointMetadata& metadata,
                           const torch::jit::ExtraFilesMap& entries, const fs::path& file,
                           const fs::path& named) {
  const torch::jit::Module saved = saveable(module);
  const torch::jit::ExtraFilesMap extra = with_metadata(metadata, entries);
  write_file_streamed(
      file,
      [&](const ByteSink& sink) {
        try {
          torch::jit::ExportModule(
              saved,
              [&sink](const void* data, std::size_t size) {
                sink(data, size);
                return size;
              },
              extra);
        } catch (const c10::Error& error) {
          throw IoError((named.empty() ? file : named).string() +
                        ": cannot serialise the checkpoint: " + error.what_without_backtrace());
        }
      },
      named.empty() ? file : named);
}

void save_checkpoint(const torch::jit::Module& module, const CheckpointMetadata& metadata,
                     const fs::path& path) {
  const fs::path temp = atomic_temporary(path);
  write_checkpoint_file(module, metadata, {}, temp, path);
  commit_temporary(temp, path);
}

std::string recorded_head(const nlohmann::json& metadata) {
  if (!metadata.is_object() || !metadata.contains("training")) return "auto";
  const nlohmann::json& training = metadata.at("training");
  if (!training.is_object() || !training.contains("head") || !training.at("head").is_string()) {
    return "auto";
  }
  return training.at("head").get<std::string>();
}

Head checkpoint_head(const Checkpoint& checkpoint, const std::string& source) {
  const std::string choice = recorded_head({{"training", checkpoint.metadata.training}});
  try {
    return find_head(checkpoint.module, choice, source);
  } catch (const ConfigError& error) {
    throw ModelError(source + ": " + error.what());
  }
}

Checkpoint load_checkpoint(const fs::path& path, const torch::Device& device,
                           const std::vector<std::string>& extra_names) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    throw ModelError(path.string() + ": no such checkpoint file");
  }
  // The CRC pass runs beside LibTorch's load, both reading the file from the page cache (a
  // third of `ftl predict`'s own time here went to the CRCs before the load began). The
  // module is used only once the check has passed, and a damaged file is reported as that
  // whatever the load made of it.
  std::future<void> verified = std::async(std::launch::async, [&path] { verify_archive(path); });
  torch::jit::ExtraFilesMap extra = {{kMetadataName, ""}};
  for (const std::string& name : extra_names) extra[name] = "";
  Checkpoint checkpoint;
  std::string load_error;
  try {
    checkpoint.module = torch::jit::load(path.string(), device, extra);
  } catch (const c10::Error& failure) {
    load_error = failure.what_without_backtrace();
  }
  verified.get();
  if (!load_error.empty()) {
    throw ModelError(path.string() + ": not a loadable TorchScript checkpoint (truncated or " +
                     "corrupt?): " + load_error);
  }
  if (extra[kMetadataName].empty()) {
    throw ModelError(path.string() + ": not an ftl checkpoint (no " + kMetadataName +
                     " inside); checkpoints are written by `ftl finetune`");
  }
  checkpoint.metadata = parse_metadata(extra[kMetadataName], path.string());
  for (const std::string& name : extra_names) checkpoint.extra[name] = extra[name];
  // An export is frozen: no training flags to set, its head inlined into its one graph (its
  // width was checked when it was made).
  if (!checkpoint.metadata.exported.is_null()) return checkpoint;
  const Head head = checkpoint_head(checkpoint, path.string());
  if (head.out_features != static_cast<std::int64_t>(checkpoint.metadata.classes.size())) {
    throw ModelError(path.string() + ": the network's " + head.path + " outputs do not match the " +
                     std::to_string(checkpoint.metadata.classes.size()) + " classes in " +
                     kMetadataName);
  }
  checkpoint.module.eval();
  return checkpoint;
}

}  // namespace ftl
