// Loader throughput against the model's training throughput, for scripts/bench/data.sh.
//
// For one image folder and input size it prints one Markdown table row per loader setting
// (workers, DCT scaling, memory cache): images per second delivered by BatchLoader alone, no
// model attached. Workers build whole batches, so a dataset needs several batches to use two. With
// --model it then times ResNet-18 training steps (forward, backward, SGD) on batches of that size,
// so the two can be compared on the same machine in one process. With --augment it times the
// loader with one training augmentation instead (2 workers, no cache), as one row.
#include <spdlog/fmt/fmt.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "ftl/data/dataset.h"
#include "ftl/data/loader.h"
#include "ftl/model/compute_mode.h"
#include "ftl/model/model.h"
#include "ftl/util/runtime.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Images per second of one pass of the loader over the whole dataset.
double loader_pass(const ftl::ImageFolder& data, const ftl::LoaderOptions& options) {
  const auto start = Clock::now();
  ftl::BatchLoader loader(data.samples, ftl::epoch_order(data.samples.size(), 0, 1), options);
  ftl::Batch batch;
  std::int64_t images = 0;
  while (loader.next(batch)) images += batch.labels.size(0);
  return static_cast<double>(images) / seconds_since(start);
}

/// Training images per second of ResNet-18 on random batches of `side` pixels.
double training_rate(const std::string& model_path, std::int64_t side, std::int64_t batch_size,
                     int steps, const ftl::ComputeMode& mode) {
  torch::jit::Module model = torch::jit::load(model_path);
  ftl::apply_memory_format(model, mode);
  model.train();
  std::vector<torch::Tensor> parameters;
  for (const auto& parameter : model.parameters()) parameters.push_back(parameter);
  torch::optim::SGD optimizer(parameters, torch::optim::SGDOptions(0.01).momentum(0.9));
  const torch::Tensor images =
      torch::randn({batch_size, 3, side, side})
          .contiguous(mode.channels_last ? torch::MemoryFormat::ChannelsLast
                                         : torch::MemoryFormat::Contiguous);
  const torch::Tensor labels = torch::randint(0, 1000, {batch_size}, torch::kInt64);
  auto step = [&] {
    optimizer.zero_grad();
    const torch::Tensor logits = model.forward({images}).toTensor();
    torch::nn::functional::cross_entropy(logits, labels).backward();
    optimizer.step();
  };
  // Warm-up: first-call allocations, and TorchScript's profiling runs before it optimises.
  constexpr int kWarmUpSteps = 3;
  for (int i = 0; i < kWarmUpSteps; ++i) step();
  const auto start = Clock::now();
  for (int i = 0; i < steps; ++i) step();
  return static_cast<double>(steps * batch_size) / seconds_since(start);
}

// The training augmentation that --augment names: "crop_flip" is data.augment's random-resized
// crop and flip; the others add TrivialAugmentWide, RandAugment, random erasing, or all but
// RandAugment.
ftl::Augment bench_augment(const std::string& name) {
  ftl::Augment augment;
  augment.enabled = true;
  if (name == "trivial_wide" || name == "all") {
    augment.auto_augment = ftl::AutoAugmentPolicy::kTrivialWide;
  }
  if (name == "rand") augment.auto_augment = ftl::AutoAugmentPolicy::kRand;
  if (name == "erasing" || name == "all") augment.erasing.p = 0.25;
  return augment;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("ftl data loader benchmark");
  std::string data_dir;
  std::string label;
  std::string model_path;
  std::int64_t image_size = 224;
  std::int64_t batch_size = 32;
  std::int64_t threads = 0;
  int train_steps = 5;
  std::string memory_format = "channels_last";
  std::string augment;
  app.add_option("--data", data_dir, "ImageFolder root")->required();
  app.add_option("--label", label, "the dataset's name in the table")->required();
  app.add_option("--image-size", image_size, "network input side");
  app.add_option("--batch-size", batch_size, "images per batch");
  app.add_option("--threads", threads, "compute threads for the model; 0 = all cores");
  app.add_option("--model", model_path, "TorchScript ResNet-18: also time training at this size");
  app.add_option("--train-steps", train_steps, "timed training steps");
  app.add_option("--memory-format", memory_format, "of the training steps, as train.memory_format")
      ->check(CLI::IsMember({"channels_last", "contiguous"}));
  app.add_option("--augment", augment, "time the loader with this training augmentation only")
      ->check(CLI::IsMember({"crop_flip", "trivial_wide", "rand", "erasing", "all"}));
  CLI11_PARSE(app, argc, argv);

  ftl::tune_allocator();  // as ftl itself runs
  const ftl::ImageFolder data = ftl::scan_image_folder(data_dir);
  // Decoding is the loader's work: one intra-op thread per worker, as in training.
  ftl::configure_compute_threads(1);
  if (!augment.empty()) {
    constexpr std::int64_t kAugmentWorkers = 2;
    ftl::LoaderOptions options;
    options.batch_size = batch_size;
    options.workers = kAugmentWorkers;
    options.preprocess.image_size = image_size;
    options.augment = bench_augment(augment);
    std::printf("| %s | %lld | %lld, augment %s | on | off | %.0f |\n", label.c_str(),
                static_cast<long long>(image_size), static_cast<long long>(kAugmentWorkers),
                augment.c_str(), loader_pass(data, options));
    return 0;
  }
  for (std::int64_t workers : {1, 2}) {
    for (bool dct : {false, true}) {
      for (bool cache : {false, true}) {
        ftl::LoaderOptions options;
        options.batch_size = batch_size;
        options.workers = workers;
        options.preprocess.image_size = image_size;
        options.preprocess.jpeg_dct_scaling = dct;
        ftl::ImageCache memory(std::uint64_t{8} << 30);
        if (cache) options.cache = &memory;
        double rate = loader_pass(data, options);
        if (cache) {  // later epochs, from memory: short, so the mean of a few
          constexpr int kCachedEpochs = 3;
          rate = 0;
          for (int epoch = 0; epoch < kCachedEpochs; ++epoch) rate += loader_pass(data, options);
          rate /= kCachedEpochs;
        }
        std::printf("| %s | %lld | %lld | %s | %s | %.0f |\n", label.c_str(),
                    static_cast<long long>(image_size), static_cast<long long>(workers),
                    dct ? "on" : "off", cache ? "on (epochs 2-4)" : "off", rate);
        std::fflush(stdout);
      }
    }
  }
  if (!model_path.empty()) {
    const std::int64_t used = ftl::configure_compute_threads(threads);
    ftl::ComputeMode mode;
    mode.channels_last = memory_format == "channels_last";
    const double rate = training_rate(model_path, image_size, batch_size, train_steps, mode);
    std::printf("| %s | %lld | ResNet-18 training, %lld threads | | | %.1f |\n", label.c_str(),
                static_cast<long long>(image_size), static_cast<long long>(used), rate);
  }
  return 0;
}
