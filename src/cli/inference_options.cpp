// The flags of every command that runs a checkpoint over images, defined once and bound to
// InferenceCompute and InferenceOptions; --help prints the defaults written there.
#include <cstdlib>

#include "commands.h"

namespace ftl::cli {
namespace {

void add_tta_option(CLI::App& command, Tta& tta) {
  command
      .add_option_function<std::string>(
          "--tta", [&tta](const std::string& text) { tta = parse_tta(text, "--tta"); },
          "Test-time augmentation: none, or flip (the softmax of each image and of its mirror "
          "averaged)")
      ->default_str(tta_name(tta))
      ->check(CLI::IsMember({"none", "flip"}));
}

void add_precision_option(CLI::App& command, Precision& precision, std::filesystem::path& cpuinfo) {
  add_choice(command, "--precision", precision,
             {{"fp32", Precision::kFp32}, {"bf16", Precision::kBf16}}, to_string(precision),
             "fp32, or bf16: the frozen network's weights rounded to bf16 once (CPUs with "
             "AVX512-BF16 or AMX, and CUDA; refused elsewhere, exit 2)");
  const char* flags = std::getenv("FTL_CPUINFO");
  if (flags != nullptr && flags[0] != '\0') cpuinfo = flags;
}

}  // namespace

void add_compute_options(CLI::App& command, InferenceCompute& compute) {
  command.add_option("--threads", compute.threads, "Compute threads; 0 = available cores")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, InferenceCompute::kMaxThreads));
  command.add_option("--device", compute.device, "cpu, cuda or cuda:N")->capture_default_str();
  add_tta_option(command, compute.tta);
  add_precision_option(command, compute.precision, compute.cpuinfo);
}

void add_inference_options(CLI::App& command, InferenceOptions& options) {
  command.add_option("--batch-size", options.batch_size, "Images per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{65536}));
  command
      .add_option("--workers", options.workers, "Decoding threads; 0 = one per 4 cores, at least 1")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{256}));
  add_compute_options(command, options);
}

}  // namespace ftl::cli
