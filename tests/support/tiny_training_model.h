// tiny_net as training holds it: its head `fc` found as model.head "auto" finds it.
#pragma once

#include <cstdint>
#include <utility>

#include "ftl/model/head.h"
#include "ftl/train/training_model.h"
#include "support/tiny_net.h"

namespace ftl::testing {

inline ftl::TrainingModel tiny_training_model(std::int64_t classes,
                                              const ftl::ModelConfig& config) {
  torch::jit::Module net = tiny_net(classes);
  ftl::Head head = ftl::find_head(net, "auto", "tiny_net");
  return ftl::TrainingModel(net, std::move(head), config);
}

}  // namespace ftl::testing
