#include "ftl/eval/inspect.h"

#include <spdlog/fmt/fmt.h>
#include <torch/script.h>

#include "ftl/model/archive.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/family.h"
#include "ftl/model/head.h"
#include "ftl/model/model.h"
#include "ftl/model/train_state.h"
#include "ftl/util/errors.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

// The head as finetune would find it (a checkpoint: where its metadata says), or null with the
// reason in `why`.
nlohmann::ordered_json head_of(const torch::jit::Module& module, const std::string& choice,
                               const std::string& source, std::string& why) {
  try {
    const Head head = find_head(module, choice, source);
    return {{"path", head.path},
            {"block", head.block},
            {"kind", to_string(head.kind)},
            {"in_features", head.in_features},
            {"out_features", head.out_features}};
  } catch (const Error& error) {  // a refused family or no head found (ModelError), a bad path
    why = error.what();
    return nullptr;
  }
}

std::string with_commas(std::int64_t value) {
  std::string digits = std::to_string(value);
  for (auto i = static_cast<std::ptrdiff_t>(digits.size()) - 3; i > 0; i -= 3) {
    digits.insert(static_cast<std::size_t>(i), ",");
  }
  return digits;
}

}  // namespace

nlohmann::ordered_json inspect_file(const fs::path& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) throw ModelError(path.string() + ": no such file");
  verify_archive(path);
  torch::jit::ExtraFilesMap extra = {
      {kMetadataName, ""}, {kTrainStateName, ""}, {kTrainTensorsName, ""}};
  torch::jit::Module module;
  try {
    module = torch::jit::load(path.string(), torch::kCPU, extra);
  } catch (const c10::Error& load_error) {
    throw ModelError(path.string() + ": not a loadable TorchScript file (truncated or corrupt?): " +
                     load_error.what_without_backtrace());
  }
  std::int64_t total = 0;
  std::int64_t trainable = 0;
  std::int64_t tensors = 0;
  for (const torch::Tensor& parameter : module.parameters()) {
    total += parameter.numel();
    trainable += parameter.requires_grad() ? parameter.numel() : 0;
    ++tensors;
  }
  nlohmann::ordered_json description;
  description["path"] = path.string();
  description["kind"] = is_traced(module) ? "traced" : "scripted";
  description["ftl_checkpoint"] = !extra[kMetadataName].empty();
  const Family* family = find_family(module);
  description["family"] =
      family != nullptr ? nlohmann::ordered_json(family->name) : nlohmann::ordered_json(nullptr);
  description["class"] = network_class(module);
  std::string why;
  description["head"] =
      head_of(module, recorded_head(nlohmann::json::parse(extra[kMetadataName], nullptr, false)),
              path.string(), why);
  if (!why.empty()) description["head_error"] = why;
  description["parameters"] = {
      {"total", total}, {"trainable", trainable}, {"frozen", total - trainable}};
  description["tensors"] = tensors;
  if (extra[kMetadataName].empty()) return description;

  const CheckpointMetadata metadata = parse_metadata(extra[kMetadataName], path.string());
  description["classes"] = metadata.classes;
  description["num_classes"] = metadata.classes.size();
  description["preprocess"] = preprocess_to_json(metadata.preprocess);
  description["epoch"] = metadata.epoch;
  description["metrics"] = metadata.metrics;
  description["config"] = metadata.config;
  description["training"] = metadata.training;
  if (!extra[kTrainStateName].empty()) {
    const TrainState state = decode_train_state(extra, path.string());
    description["resume"] = {{"epochs_done", state.epochs_done},
                             {"steps_done", state.steps_done},
                             {"stop_reason", state.stop_reason}};
  }
  return description;
}

std::string inspect_text(const nlohmann::ordered_json& d) {
  std::string text = fmt::format("{:<14}{}\n", "file", d.at("path").get<std::string>());
  text += fmt::format("{:<14}{} TorchScript{}\n", "kind", d.at("kind").get<std::string>(),
                      d.at("ftl_checkpoint").get<bool>() ? ", ftl checkpoint" : "");
  text += fmt::format("{:<14}{}\n", "family",
                      d.at("family").is_null()
                          ? "none of torchvision's (class " + d.at("class").get<std::string>() + ")"
                          : d.at("family").get<std::string>());
  const auto& head = d.at("head");
  text += fmt::format(
      "{:<14}{}\n", "head",
      head.is_null() ? "none found: " + d.at("head_error").get<std::string>()
                     : fmt::format("{} ({} {} -> {})", head.at("path").get<std::string>(),
                                   head.at("kind").get<std::string>(),
                                   head.at("in_features").dump(), head.at("out_features").dump()));
  const auto& p = d.at("parameters");
  text += fmt::format("{:<14}{} in {} tensors (trainable {}, frozen {})\n", "parameters",
                      with_commas(p.at("total").get<std::int64_t>()), d.at("tensors").dump(),
                      with_commas(p.at("trainable").get<std::int64_t>()),
                      with_commas(p.at("frozen").get<std::int64_t>()));
  if (!d.at("ftl_checkpoint").get<bool>()) return text;
  std::string classes;
  for (const auto& name : d.at("classes")) {
    classes += (classes.empty() ? "" : ", ") + name.get<std::string>();
  }
  text += fmt::format("{:<14}{} ({})\n", "classes", d.at("num_classes").dump(), classes);
  text += fmt::format("{:<14}{}\n", "preprocess", d.at("preprocess").dump());
  text += fmt::format("{:<14}{}\n", "epoch", d.at("epoch").dump());
  text += fmt::format("{:<14}{}\n", "metrics", d.at("metrics").dump());
  if (!d.at("training").is_null()) {
    text += fmt::format("{:<14}{}\n", "training", d.at("training").dump());
  }
  if (d.contains("resume")) {
    const auto& r = d.at("resume");
    text += fmt::format("{:<14}after epoch {}, step {}{}\n", "resume state",
                        r.at("epochs_done").dump(), r.at("steps_done").dump(),
                        r.at("stop_reason").get<std::string>().empty()
                            ? ""
                            : " (" + r.at("stop_reason").get<std::string>() + ")");
  }
  text += fmt::format("{:<14}{}\n", "config", d.at("config").dump());
  return text;
}

}  // namespace ftl
