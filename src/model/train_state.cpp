#include "ftl/model/train_state.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/serialize.h>

#include "ftl/config/config.h"
#include "ftl/util/errors.h"
#include "ftl/util/strict_json.h"

namespace ftl {
namespace {

constexpr const char* kCpuRngKey = "rng/cpu";

std::string rng_key_cuda(int device) { return "rng/cuda:" + std::to_string(device); }

torch::Tensor generator_state(at::Generator generator) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  return at::Tensor(generator.get_state());
}

void set_generator_state(at::Generator generator, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

// What a resumed run may do with each option, as the option table says.
std::map<std::string, OnResume> resume_rules() {
  std::map<std::string, OnResume> rules;
  for (const OptionDoc& option : option_docs()) rules[option.key] = option.on_resume;
  return rules;
}

// Flattens nested objects into dotted keys, as config keys are written; an option's value
// (train.class_weights may be an object) is a leaf.
void flatten(const nlohmann::json& json, const std::string& prefix,
             const std::map<std::string, OnResume>& options,
             std::map<std::string, nlohmann::json>& out) {
  for (const auto& [name, value] : json.items()) {
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    if (value.is_object() && options.count(key) == 0) {
      flatten(value, key, options, out);
    } else {
      out[key] = value;
    }
  }
}

}  // namespace

torch::jit::ExtraFilesMap encode_train_state(const TrainState& state) {
  const nlohmann::json json = {{"format_version", kTrainStateVersion},
                               {"epochs_done", state.epochs_done},
                               {"steps_done", state.steps_done},
                               {"world_size", state.world_size},
                               {"partial",
                                {{"loss_sum", state.partial.loss_sum},
                                 {"correct", state.partial.correct},
                                 {"count", state.partial.count}}},
                               {"ranking", state.ranking},
                               {"early_stopping", state.early_stopping},
                               {"stop_reason", state.stop_reason},
                               {"stop_message", state.stop_message},
                               {"phase", state.phase},
                               {"train_samples", state.train_samples},
                               {"train_fingerprint", state.train_fingerprint},
                               {"optimizer", state.optimizer},
                               {"accumulation", state.accumulation}};
  c10::Dict<std::string, torch::Tensor> tensors;
  for (const auto& [name, tensor] : state.tensors) tensors.insert(name, tensor);
  const std::vector<char> pickled = torch::pickle_save(tensors);
  return {{kTrainStateName, json.dump()},
          {kTrainTensorsName, std::string(pickled.begin(), pickled.end())}};
}

TrainState decode_train_state(const torch::jit::ExtraFilesMap& extra, const std::string& source) {
  const auto json_entry = extra.find(kTrainStateName);
  const auto tensor_entry = extra.find(kTrainTensorsName);
  if (json_entry == extra.end() || json_entry->second.empty() || tensor_entry == extra.end() ||
      tensor_entry->second.empty()) {
    throw ModelError(source + ": holds no resume state (" + kTrainStateName +
                     "); only checkpoints/last.pt of an ftl run can be resumed");
  }
  const std::string where = source + ": " + kTrainStateName + ": ";
  TrainState state;
  try {
    const nlohmann::json json = nlohmann::json::parse(json_entry->second);
    const int version = json.at("format_version").get<int>();
    if (version > kTrainStateVersion) {
      throw ModelError(where + "format_version " + std::to_string(version) +
                       " is newer than this ftl reads; upgrade ftl");
    }
    refuse_unknown_keys(json,
                        {"format_version", "epochs_done", "steps_done", "world_size", "partial",
                         "ranking", "early_stopping", "stop_reason", "stop_message", "phase",
                         "train_samples", "train_fingerprint", "optimizer", "accumulation"},
                        where);
    state.epochs_done = json.at("epochs_done").get<std::int64_t>();
    state.steps_done = json.at("steps_done").get<std::int64_t>();
    // Absent in states written before distributed training: one process.
    state.world_size = json.value("world_size", std::int64_t{1});
    const nlohmann::json& partial = json.at("partial");
    refuse_unknown_keys(partial, {"loss_sum", "correct", "count"}, where + "partial: ");
    state.partial.loss_sum = partial.at("loss_sum").get<double>();
    state.partial.correct = partial.at("correct").get<std::int64_t>();
    state.partial.count = partial.at("count").get<std::int64_t>();
    state.ranking = json.at("ranking");
    state.early_stopping = json.at("early_stopping");
    state.stop_reason = json.at("stop_reason").get<std::string>();
    state.stop_message = json.at("stop_message").get<std::string>();
    state.phase = json.at("phase").get<std::string>();
    state.train_samples = json.at("train_samples").get<std::int64_t>();
    state.train_fingerprint = json.at("train_fingerprint").get<std::string>();
    state.optimizer = json.at("optimizer");
    // Absent in states written before gradient accumulation: no step in progress.
    state.accumulation = json.value("accumulation", nlohmann::json());
  } catch (const nlohmann::json::exception& error) {
    throw ModelError(where + error.what());
  }
  require_at_least(state.epochs_done, 0, "epochs_done", where);
  require_at_least(state.steps_done, 0, "steps_done", where);
  require_at_least(state.world_size, 1, "world_size", where);
  require_at_least(state.partial.count, 0, "partial.count", where);
  require_at_least(state.partial.correct, 0, "partial.correct", where);
  require_at_least(state.partial.count, state.partial.correct, "partial.count", where);
  require_at_least(state.train_samples, 0, "train_samples", where);
  try {
    const std::vector<char> bytes(tensor_entry->second.begin(), tensor_entry->second.end());
    const c10::IValue value = torch::pickle_load(bytes);
    for (const auto& item : value.toGenericDict()) {
      state.tensors[item.key().toStringRef()] = item.value().toTensor();
    }
  } catch (const c10::Error& error) {
    throw ModelError(source + ": " + kTrainTensorsName +
                     " is damaged: " + error.what_without_backtrace());
  }
  return state;
}

void save_rng_states(std::map<std::string, torch::Tensor>& tensors) {
  tensors[kCpuRngKey] = generator_state(at::detail::getDefaultCPUGenerator());
  if (!torch::cuda::is_available()) return;
  auto& context = at::globalContext();
  for (int device = 0; device < static_cast<int>(torch::cuda::device_count()); ++device) {
    tensors[rng_key_cuda(device)] = generator_state(
        context.defaultGenerator(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device))));
  }
}

void restore_rng_states(const std::map<std::string, torch::Tensor>& tensors) {
  for (const auto& [name, state] : tensors) {
    if (name == kCpuRngKey) {
      set_generator_state(at::detail::getDefaultCPUGenerator(), state);
    } else if (name.rfind("rng/cuda:", 0) == 0 && torch::cuda::is_available()) {
      const int device = std::stoi(name.substr(std::string("rng/cuda:").size()));
      if (device < static_cast<int>(torch::cuda::device_count())) {
        set_generator_state(at::globalContext().defaultGenerator(
                                at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device))),
                            state);
      }
    }
  }
}

void check_resume_config(const nlohmann::json& run_config, const nlohmann::json& requested,
                         std::int64_t epochs_done, const std::string& run_dir) {
  const std::map<std::string, OnResume> rules = resume_rules();
  std::map<std::string, nlohmann::json> before;
  std::map<std::string, nlohmann::json> now;
  flatten(run_config, "", rules, before);
  flatten(requested, "", rules, now);
  for (const auto& [key, value] : now) {  // in key order: the first that differs is named
    const auto found = before.find(key);
    const nlohmann::json old = found == before.end() ? nlohmann::json() : found->second;
    if (old == value) continue;
    const auto rule = rules.find(key);
    const OnResume on_resume = rule == rules.end() ? OnResume::kFixed : rule->second;
    if (on_resume == OnResume::kMayChange) continue;
    if (on_resume == OnResume::kMayGrow && value.is_number_integer() && old.is_number_integer()) {
      if (value.get<std::int64_t>() < old.get<std::int64_t>()) {
        throw ConfigError(key + " may only grow on resume: " + run_dir + " was started for " +
                          old.dump() + " epochs (" + std::to_string(epochs_done) + " done), got " +
                          value.dump());
      }
      continue;
    }
    throw ConfigError("cannot resume " + run_dir + " with a different " + key + ": the run used " +
                          old.dump() + ", now " + value.dump() +
                          "; only train.epochs (and the feature cache and dist settings) may "
                          "change on resume",
                      Choice::kOverwriteToChange);
  }
}

}  // namespace ftl
