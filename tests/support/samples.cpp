#include "support/samples.h"

#include <fstream>
#include <string>
#include <vector>

#include "ftl/eval/evaluate.h"
#include "ftl/eval/metrics.h"

namespace fs = std::filesystem;

namespace ftl::testing {
namespace {

const std::vector<std::string> kClasses = {"boot", "<b>&co", "sandal"};

}  // namespace

ftl::CheckpointMetadata sample_metadata() {
  ftl::CheckpointMetadata metadata;
  metadata.classes = {"cat", "dog", "emu"};
  metadata.preprocess.image_size = 32;
  metadata.epoch = 2;
  metadata.metrics = {{"val_acc", 0.5}};
  metadata.config = {{"train", {{"epochs", 2}}}};
  return metadata;
}

void write_run(const fs::path& dir) {
  fs::create_directories(dir / "checkpoints");
  std::ofstream(dir / "config.json")
      << R"({"data": {"train": "t", "val": "v"}, "train": {"epochs": 3}})";
  std::ofstream metrics(dir / "metrics.jsonl");
  for (int epoch = 1; epoch <= 3; ++epoch) {
    metrics << nlohmann::json{{"epoch", epoch},
                              {"train_loss", 1.0 / epoch},
                              {"train_acc", 0.5 + 0.1 * epoch},
                              {"val_loss", 1.2 / epoch},
                              {"val_acc", 0.45 + 0.1 * epoch},
                              {"lr", 0.01},
                              {"lr_end", 0.01 / epoch},
                              {"seconds", 2.0},
                              {"images_per_s", 100.0}}
                   .dump()
            << "\n";
  }
  std::ofstream(dir / "summary.json")
      << R"({"stop_reason": "completed", "stop_message": "trained all 3 epochs", "epochs": 3,
             "best_metric": "val_acc", "best_epoch": 3, "best_value": 0.75})";
  std::ofstream(dir / "data.json")
      << R"({"train": {"path": "t", "images": 30, "classes": {"boot": 10, "<b>&co": 10, "sandal": 10}},
             "val": {"path": "v", "images": 150, "classes": {"boot": 50, "<b>&co": 50, "sandal": 50}}})";
}

nlohmann::ordered_json sample_evaluation() {
  ftl::MetricsAccumulator metrics(3);
  std::vector<float> logits;
  std::vector<std::int64_t> labels;
  for (std::int64_t label = 0; label < 3; ++label) {
    for (int i = 0; i < 50; ++i) {
      const std::int64_t predicted = label == 2 && i == 0 ? 0 : label;  // one sandal -> boot
      for (std::int64_t c = 0; c < 3; ++c) logits.push_back(c == predicted ? 3.0F : 0.0F);
      labels.push_back(label);
    }
  }
  metrics.add(torch::tensor(logits).view({150, 3}), torch::tensor(labels));
  return ftl::metrics_report(metrics, kClasses);
}

}  // namespace ftl::testing
