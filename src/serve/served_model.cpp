#include "ftl/serve/served_model.h"

#include <torch/csrc/jit/runtime/graph_executor.h>

#include "ftl/util/sha256.h"

namespace ftl {

std::shared_ptr<const ServedModel> load_served_model(const std::filesystem::path& path,
                                                     const torch::Device& device) {
  auto model = std::make_shared<ServedModel>();
  model->checkpoint = load_checkpoint(path, device);
  model->device = device;
  model->file_name = path.filename().string();
  model->sha256 = sha256_file(path);
  const std::int64_t side = model->checkpoint.metadata.preprocess.image_size;
  torch::NoGradGuard no_grad;
  torch::jit::GraphOptimizerEnabledGuard plain_interpreter(false);  // as the batcher runs it
  model->checkpoint.module.forward({torch::zeros({1, 3, side, side}, torch::Device(device))});
  return model;
}

nlohmann::ordered_json model_identity_json(const ServedModel& model) {
  return {{"file", model.file_name},
          {"sha256", model.sha256},
          {"epoch", model.checkpoint.metadata.epoch}};
}

}  // namespace ftl
