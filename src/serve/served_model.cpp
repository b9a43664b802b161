#include "ftl/serve/served_model.h"

#include "ftl/util/sha256.h"

namespace ftl {

std::shared_ptr<const ServedModel> load_served_model(const std::filesystem::path& path,
                                                     const torch::Device& device,
                                                     Precision precision) {
  auto model = std::make_shared<ServedModel>();
  model->checkpoint = load_checkpoint(path, device);
  // The frozen network takes the loaded one's place, so that one copy of the weights stays
  // in memory: a server only ever runs it.
  model->network = inference_network(model->checkpoint.module,
                                     model->checkpoint.metadata.preprocess.image_size, precision);
  model->checkpoint.module = model->network.module;
  model->device = device;
  model->file_name = path.filename().string();
  model->sha256 = sha256_file(path);
  return model;
}

nlohmann::ordered_json model_identity_json(const ServedModel& model) {
  return {{"file", model.file_name},
          {"sha256", model.sha256},
          {"epoch", model.checkpoint.metadata.epoch},
          {"precision", to_string(model.network.precision)}};
}

}  // namespace ftl
