// How the network computes: its numeric precision (fp32, or bf16 under autocast) and the memory
// layout of its convolution weights and inputs (NCHW, or NHWC "channels last").
//
// Measured here (2-core Xeon with AVX512-BF16, ResNet-18 training steps, LibTorch 1.13):
// bf16 autocast 1.6x fp32's images/s at 32 px and 3.2x at 224 px; channels last 1.0x at 32 px
// and 1.2x at 224 px in fp32, 1.1x with bf16. Channels last changes no result beyond rounding.
#pragma once

#include <torch/script.h>

#include <filesystem>
#include <string>

#include "ftl/config/choices.h"
#include "ftl/util/errors.h"

namespace ftl {

struct ComputeMode {
  bool bf16 = false;           // autocast: convolutions and matmuls in bfloat16
  bool channels_last = false;  // 4-d weights and image batches in NHWC layout
};

/// Whether /proc/cpuinfo-style flags name AVX512-BF16 or AMX-BF16, the instructions that make
/// bf16 faster than fp32 (elsewhere oneDNN emulates it, slower than fp32).
bool cpu_flags_have_bf16(const std::string& cpuinfo);

/// Where Linux lists the processor's flags.
inline constexpr const char* kCpuInfoPath = "/proc/cpuinfo";

/// Whether this processor has them, as the flags in `cpuinfo` (the format of /proc/cpuinfo)
/// say; false where it cannot be read.
bool cpu_has_bf16(const std::filesystem::path& cpuinfo = kCpuInfoPath);

/// The ConfigError of bf16 asked for by `key` on a CPU without AVX512-BF16 or AMX, whose flags
/// were read from `cpuinfo`: it names the missing instructions.
ConfigError bf16_refusal(const std::string& key, const std::filesystem::path& cpuinfo);

/// Throws bf16_refusal(key, cpuinfo) when `precision` is bf16 on a CPU `device` whose flags
/// (read from `cpuinfo`) have neither AVX512-BF16 nor AMX: bf16 would be emulated there, many
/// times slower than fp32. CUDA decides for itself.
void check_bf16_support(const std::string& key, Precision precision, const torch::Device& device,
                        const std::filesystem::path& cpuinfo = kCpuInfoPath);

/// train.precision and train.memory_format for a device. bf16 on a CPU without AVX512-BF16 or
/// AMX (cpu_bf16 false) throws ConfigError naming train.precision.
ComputeMode resolve_compute_mode(Precision precision, MemoryFormat memory_format,
                                 const torch::Device& device, bool cpu_bf16);

/// Puts every 4-d parameter and buffer (the convolution weights) in the mode's memory format.
/// Values are unchanged; checkpoints saved afterwards load as usual, in Python too.
void apply_memory_format(torch::jit::Module& module, const ComputeMode& mode);

/// While alive, ops on `device` run under autocast in bfloat16 when mode.bf16 (else it does
/// nothing). Leaving clears autocast's cache of bf16 weight copies: the optimizer changes the
/// weights after every step, and a stale copy would be used for the next forward pass.
class AutocastScope {
 public:
  AutocastScope(const ComputeMode& mode, const torch::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool cpu_ = false;
  bool cuda_ = false;
};

}  // namespace ftl
