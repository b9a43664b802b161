// The floor of scripts/bench/serve.sh: one image through the checkpoint's network in this
// process, as ftl serve's batcher runs it (frozen for inference, plain interpreter, no
// gradients), with no HTTP, decoding or queueing. Prints the median and the 10th percentile in
// milliseconds, the median of the network as loaded (what ftl predict runs) beside them, and
// the largest difference between the two networks' probabilities on eight random images, and
// the frozen network's and the loaded one's median times for those eight in one pass, and what
// freezing costs a process that runs the network once (freeze_ms: making the frozen network and
// its first pass, less the loaded network's first pass). It takes
// a file `ftl export` wrote as it takes a checkpoint (scripts/bench/export.sh). With
// --precision bf16 the network it times is the bf16 one ftl serve --precision bf16 runs, and
// the difference is that network's from the loaded one in fp32.
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "ftl/model/checkpoint.h"
#include "ftl/model/inference_network.h"
#include "ftl/util/runtime.h"

namespace {

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// The milliseconds of a network's first call.
double first_pass_ms(torch::jit::Module& network, const torch::Tensor& input) {
  const auto start = std::chrono::steady_clock::now();
  network.forward({input});
  return milliseconds_since(start);
}

// Each run's milliseconds, sorted, after five warm-up runs.
std::vector<double> forward_ms(torch::jit::Module& network, const torch::Tensor& input, int runs) {
  for (int i = 0; i < 5; ++i) network.forward({input});
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    network.forward({input}).toTensor().softmax(1);
    ms.push_back(milliseconds_since(start));
  }
  std::sort(ms.begin(), ms.end());
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  std::string checkpoint;
  std::int64_t threads = 2;
  int runs = 50;
  ftl::Precision precision = ftl::Precision::kFp32;
  CLI::App app{"Forward time of one image through a checkpoint"};
  app.add_option("--checkpoint", checkpoint)->required();
  app.add_option("--threads", threads);
  app.add_option("--runs", runs);
  app.add_option("--precision", precision)
      ->transform(CLI::CheckedTransformer(std::map<std::string, ftl::Precision>{
          {"fp32", ftl::Precision::kFp32}, {"bf16", ftl::Precision::kBf16}}));
  CLI11_PARSE(app, argc, argv);
  ftl::limit_interop_threads();
  ftl::configure_compute_threads(threads);
  ftl::Checkpoint loaded = ftl::load_checkpoint(checkpoint, torch::kCPU);
  const std::int64_t side = loaded.metadata.preprocess.image_size;
  const torch::Tensor input = torch::rand({1, 3, side, side});
  // What freezing costs a call that loads the checkpoint: the frozen network's making and its
  // first pass (oneDNN packs its weights there), against the loaded network's first pass.
  const auto freeze_start = std::chrono::steady_clock::now();
  ftl::InferenceNetwork served = ftl::inference_network(loaded.module, side, precision);
  const double make_ms = milliseconds_since(freeze_start);
  if (!served.frozen()) std::fprintf(stderr, "not frozen: %s\n", served.not_frozen_reason.c_str());
  torch::NoGradGuard no_grad;
  torch::jit::GraphOptimizerEnabledGuard plain_interpreter(false);
  const double frozen_first_ms = first_pass_ms(served.module, input);
  const double loaded_first_ms = first_pass_ms(loaded.module, input);
  const std::vector<double> frozen_ms = forward_ms(served.module, input, runs);
  const std::vector<double> loaded_ms = forward_ms(loaded.module, input, runs);
  // How far freezing moves the answers, on a batch of 8 random images.
  const torch::Tensor batch = torch::rand({8, 3, side, side});
  const double difference = (served.module.forward({batch}).toTensor().softmax(1) -
                             loaded.module.forward({batch}).toTensor().softmax(1))
                                .abs()
                                .max()
                                .item<double>();
  // A pass of that batch, as ftl serve runs one under load: the throughput ceiling.
  constexpr int kBatchRuns = 10;
  const std::vector<double> batch_ms = forward_ms(served.module, batch, kBatchRuns);
  const std::vector<double> loaded_batch_ms = forward_ms(loaded.module, batch, kBatchRuns);
  std::printf(
      "forward_ms_p50 %.2f\nforward_ms_p10 %.2f\nloaded_forward_ms_p50 %.2f\n"
      "max_probability_difference %.2g\nbatch8_forward_ms_p50 %.1f\n"
      "loaded_batch8_forward_ms_p50 %.1f\nfrozen %d\nfreeze_ms %.1f\n",
      frozen_ms[frozen_ms.size() / 2], frozen_ms[frozen_ms.size() / 10],
      loaded_ms[loaded_ms.size() / 2], difference, batch_ms[batch_ms.size() / 2],
      loaded_batch_ms[loaded_batch_ms.size() / 2], served.frozen() ? 1 : 0,
      make_ms + frozen_first_ms - loaded_first_ms);
  return 0;
}
