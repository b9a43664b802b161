#include "ftl/eval/inspect.h"

#include <spdlog/fmt/fmt.h>
#include <torch/script.h>

#include "ftl/model/archive.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/family.h"
#include "ftl/model/head.h"
#include "ftl/model/layer_depth.h"
#include "ftl/model/model.h"
#include "ftl/model/train_state.h"
#include "ftl/util/errors.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

// The head as finetune would find it (a checkpoint: where its metadata says), or none with the
// reason in `why`.
std::optional<Head> head_of(const torch::jit::Module& module, const std::string& choice,
                            const std::string& source, std::string& why) {
  try {
    return find_head(module, choice, source);
  } catch (const Error& error) {  // a refused family or no head found (ModelError), a bad path
    why = error.what();
    return std::nullopt;
  }
}

nlohmann::ordered_json head_json(const std::optional<Head>& head) {
  if (!head) return nullptr;
  return {{"path", head->path},
          {"block", head->block},
          {"kind", to_string(head->kind)},
          {"in_features", head->in_features},
          {"out_features", head->out_features}};
}

// The checkpoint's optimizer.layer_decay where it trained with one, else the shown default.
double recorded_decay(const nlohmann::json& config) {
  const nlohmann::json decay =
      config.value("optimizer", nlohmann::json::object()).value("layer_decay", nlohmann::json(1.0));
  return decay.is_number() && decay.get<double>() < 1.0 ? decay.get<double>() : kShownLayerDecay;
}

// Each depth's scale, tensor and element counts, and first and last parameter.
nlohmann::ordered_json depth_groups(const torch::jit::Module& module, const Head& head,
                                    double decay) {
  const LayerDepths depths = layer_depths(module, head);
  std::vector<nlohmann::ordered_json> rows(static_cast<std::size_t>(depths.max_depth + 1));
  for (const torch::jit::NameTensor& parameter : module.named_parameters(/*recurse=*/true)) {
    const std::int64_t depth = depths.depth.at(parameter.name);
    nlohmann::ordered_json& row = rows[static_cast<std::size_t>(depth)];
    if (row.is_null()) {
      row = {{"depth", depth},
             {"scale", depth_scale(decay, depth, depths.max_depth)},
             {"tensors", 0},
             {"parameters", 0},
             {"first", parameter.name}};
    }
    row["tensors"] = row["tensors"].get<std::int64_t>() + 1;
    row["parameters"] = row["parameters"].get<std::int64_t>() + parameter.value.numel();
    row["last"] = parameter.name;
  }
  nlohmann::ordered_json listed = nlohmann::ordered_json::array();
  for (nlohmann::ordered_json& row : rows) {
    if (!row.is_null()) listed.push_back(std::move(row));
  }
  return {{"layer_decay", decay}, {"max_depth", depths.max_depth}, {"depths", listed}};
}

std::string with_commas(std::int64_t value) {
  std::string digits = std::to_string(value);
  for (auto i = static_cast<std::ptrdiff_t>(digits.size()) - 3; i > 0; i -= 3) {
    digits.insert(static_cast<std::size_t>(i), ",");
  }
  return digits;
}

// The depth groups as a table under their heading.
std::string groups_text(const nlohmann::ordered_json& groups) {
  std::string text = fmt::format(
      "{:<14}optimizer.layer_decay {:g}: lr x {:g} ** ({} - depth); the head's block at depth "
      "{}\n",
      "groups", groups.at("layer_decay").get<double>(), groups.at("layer_decay").get<double>(),
      groups.at("max_depth").dump(), groups.at("max_depth").dump());
  text += fmt::format("  {:>5}  {:>8}  {:>7}  {:>12}  {}\n", "depth", "scale", "tensors",
                      "parameters", "first .. last");
  for (const auto& row : groups.at("depths")) {
    text += fmt::format("  {:>5}  {:>8.4g}  {:>7}  {:>12}  {} .. {}\n", row.at("depth").dump(),
                        row.at("scale").get<double>(), row.at("tensors").dump(),
                        with_commas(row.at("parameters").get<std::int64_t>()),
                        row.at("first").get<std::string>(), row.at("last").get<std::string>());
  }
  return text;
}

}  // namespace

nlohmann::ordered_json inspect_file(const fs::path& path, bool groups,
                                    std::optional<double> layer_decay) {
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
  const nlohmann::json recorded = nlohmann::json::parse(extra[kMetadataName], nullptr, false);
  std::string why;
  const std::optional<Head> head = head_of(module, recorded_head(recorded), path.string(), why);
  description["head"] = head_json(head);
  if (!head) description["head_error"] = why;
  if (groups && head) {
    const double decay = layer_decay.value_or(
        recorded_decay(recorded.is_object() ? recorded.value("config", nlohmann::json::object())
                                            : nlohmann::json::object()));
    description["groups"] = depth_groups(module, *head, decay);
  } else if (groups) {
    description["groups_error"] = why;
  }
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
  if (!metadata.exported.is_null()) {
    description["export"] = metadata.exported;
    description["head_error"] = "inlined into the export's frozen graph (it was " +
                                metadata.exported.value("head", std::string("?")) + ")";
  }
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
                      d.contains("export")                 ? ", ftl export (frozen for inference)"
                      : d.at("ftl_checkpoint").get<bool>() ? ", ftl checkpoint"
                                                           : "");
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
  if (d.contains("groups")) text += groups_text(d.at("groups"));
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
  if (d.contains("export")) {
    const auto& e = d.at("export");
    text += fmt::format(
        "{:<14}{} {}, batch {}, from {} (sha256 {})\n", "export", e.value("format", ""),
        e.value("precision", ""),
        e.at("batch").is_string() ? e.at("batch").get<std::string>() : e.at("batch").dump(),
        e.value("source_checkpoint", ""), e.value("source_sha256", ""));
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
