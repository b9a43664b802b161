#include "ftl/model/compute_mode.h"

#include <ATen/autocast_mode.h>
#include <torch/library.h>

#include <fstream>
#include <sstream>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

// Under CPU autocast an eval-mode nn.MultiheadAttention (ViT's) takes its fast path,
// torch._native_multi_head_attention, since its autocast check looks at CUDA's alone; autocast
// has no rule for that op, and its inner products then meet bf16 and fp32 operands ("expected
// scalar type BFloat16 but found Float": a ViT's validation and feature cache in bf16). This is
// the rule it lacks, as autocast's own fp32 ops run: floating tensors in float32, autocast off
// within. Training steps (gradients on) take the slow path, which autocast covers.
void native_attention_in_fp32(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  for (c10::IValue& value : *stack) {
    if (value.isTensor() && value.toTensor().is_floating_point()) {
      value = value.toTensor().to(torch::kFloat32);
    }
  }
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  op.callBoxed(stack);
}

}  // namespace
}  // namespace ftl

TORCH_LIBRARY_IMPL(aten, AutocastCPU, library) {
  library.impl("_native_multi_head_attention",
               torch::CppFunction::makeFromBoxedFunction<&ftl::native_attention_in_fp32>());
}

namespace ftl {

bool cpu_flags_have_bf16(const std::string& cpuinfo) {
  std::istringstream lines(cpuinfo);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    for (std::string word; words >> word;) {
      if (word == "avx512_bf16" || word == "amx_bf16") return true;
    }
  }
  return false;
}

bool cpu_has_bf16(const std::filesystem::path& cpuinfo) {
  std::ifstream in(cpuinfo);
  std::ostringstream text;
  text << in.rdbuf();
  return cpu_flags_have_bf16(text.str());
}

ComputeMode resolve_compute_mode(Precision precision, MemoryFormat memory_format,
                                 const torch::Device& device, bool cpu_bf16) {
  ComputeMode mode;
  mode.bf16 = precision == Precision::kBf16;
  mode.channels_last = memory_format == MemoryFormat::kChannelsLast;
  if (mode.bf16 && device.is_cpu() && !cpu_bf16)
    throw bf16_refusal("train.precision", kCpuInfoPath);
  return mode;
}

ConfigError bf16_refusal(const std::string& key, const std::filesystem::path& cpuinfo) {
  return ConfigError(key + " \"bf16\": this processor has neither AVX512-BF16 nor AMX (no " +
                     "avx512_bf16 or amx_bf16 in " + cpuinfo.string() +
                     "), so bf16 would run slower than fp32; use \"fp32\"");
}

void check_bf16_support(const std::string& key, Precision precision, const torch::Device& device,
                        const std::filesystem::path& cpuinfo) {
  if (precision == Precision::kBf16 && device.is_cpu() && !cpu_has_bf16(cpuinfo)) {
    throw bf16_refusal(key, cpuinfo);
  }
}

void apply_memory_format(torch::jit::Module& module, const ComputeMode& mode) {
  const auto format =
      mode.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  torch::NoGradGuard no_grad;
  for (torch::Tensor parameter : module.parameters(/*recurse=*/true)) {
    if (parameter.dim() == 4) parameter.set_data(parameter.contiguous(format));
  }
  for (torch::Tensor buffer : module.buffers(/*recurse=*/true)) {
    if (buffer.dim() == 4) buffer.set_data(buffer.contiguous(format));
  }
}

AutocastScope::AutocastScope(const ComputeMode& mode, const torch::Device& device) {
  if (!mode.bf16) return;
  if (device.is_cuda()) {
    cuda_ = true;
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    cpu_ = true;
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
}

AutocastScope::~AutocastScope() {
  if (cuda_) at::autocast::set_enabled(false);
  if (cpu_) at::autocast::set_cpu_enabled(false);
  if (cuda_ || cpu_) at::autocast::clear_cache();
}

}  // namespace ftl
