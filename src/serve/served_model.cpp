#include "ftl/serve/served_model.h"

#include "ftl/util/sha256.h"

namespace ftl {

std::shared_ptr<const ServedModel> load_served_model(const std::filesystem::path& path,
                                                     const torch::Device& device) {
  auto model = std::make_shared<ServedModel>();
  model->checkpoint = load_checkpoint(path, device);
  model->device = device;
  model->file_name = path.filename().string();
  model->sha256 = sha256_file(path);
  return model;
}

nlohmann::ordered_json model_identity_json(const ServedModel& model) {
  return {{"file", model.file_name},
          {"sha256", model.sha256},
          {"epoch", model.checkpoint.metadata.epoch}};
}

}  // namespace ftl
