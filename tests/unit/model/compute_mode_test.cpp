// train.precision and train.memory_format: bf16 detection and its error, and autocast's scope
// and cache (the fixture's runs are in tests/e2e/compute_mode_test.cpp).
#include "ftl/model/compute_mode.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "ftl/util/errors.h"

using Catch::Matchers::Contains;

namespace {}  // namespace

TEST_CASE("compute mode: bf16 support is read from the CPU flags line", "[compute_mode]") {
  CHECK(ftl::cpu_flags_have_bf16(
      "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n"));
  CHECK(ftl::cpu_flags_have_bf16("flags\t\t: fpu amx_bf16 amx_tile\n"));
  CHECK_FALSE(ftl::cpu_flags_have_bf16("flags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n"));
  // Only the flags line counts, and only whole words.
  CHECK_FALSE(ftl::cpu_flags_have_bf16("model name\t: avx512_bf16 lookalike\nflags\t: fpu\n"));
  CHECK_FALSE(ftl::cpu_flags_have_bf16("flags\t: xavx512_bf16x\n"));
  CHECK_FALSE(ftl::cpu_flags_have_bf16(""));
}

TEST_CASE("compute mode: bf16 on a CPU without AVX512-BF16 or AMX is a clear error",
          "[compute_mode]") {
  REQUIRE_THROWS_AS(ftl::resolve_compute_mode(ftl::Precision::kBf16, ftl::MemoryFormat::kContiguous,
                                              torch::kCPU, false),
                    ftl::ConfigError);
  REQUIRE_THROWS_WITH(ftl::resolve_compute_mode(ftl::Precision::kBf16,
                                                ftl::MemoryFormat::kContiguous, torch::kCPU, false),
                      Contains("train.precision \"bf16\": this processor has neither AVX512-BF16 "
                               "nor AMX") &&
                          Contains("use \"fp32\""));
  const ftl::ComputeMode bf16 = ftl::resolve_compute_mode(
      ftl::Precision::kBf16, ftl::MemoryFormat::kChannelsLast, torch::kCPU, true);
  CHECK(bf16.bf16);
  CHECK(bf16.channels_last);
  const ftl::ComputeMode fp32 = ftl::resolve_compute_mode(
      ftl::Precision::kFp32, ftl::MemoryFormat::kContiguous, torch::kCPU, false);
  CHECK_FALSE(fp32.bf16);
  CHECK_FALSE(fp32.channels_last);
}

TEST_CASE("compute mode: inference's bf16 is checked against the flags of the file it names",
          "[compute_mode]") {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ftl_cpuinfo_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "amx") << "flags\t\t: fpu sse2 amx_bf16 amx_tile\n";
  std::ofstream(dir / "plain") << "flags\t\t: fpu sse2 avx2 avx512f\n";
  CHECK(ftl::cpu_has_bf16(dir / "amx"));
  CHECK_FALSE(ftl::cpu_has_bf16(dir / "plain"));
  CHECK_FALSE(ftl::cpu_has_bf16(dir / "missing"));
  CHECK_NOTHROW(
      ftl::check_bf16_support("precision", ftl::Precision::kBf16, torch::kCPU, dir / "amx"));
  CHECK_NOTHROW(
      ftl::check_bf16_support("precision", ftl::Precision::kFp32, torch::kCPU, dir / "plain"));
  CHECK_NOTHROW(ftl::check_bf16_support("precision", ftl::Precision::kBf16,
                                        torch::Device(torch::kCUDA, 0), dir / "plain"));
  const std::string plain = (dir / "plain").string();
  CHECK_THROWS_AS(
      ftl::check_bf16_support("precision", ftl::Precision::kBf16, torch::kCPU, dir / "plain"),
      ftl::ConfigError);
  CHECK_THROWS_WITH(
      ftl::check_bf16_support("precision", ftl::Precision::kBf16, torch::kCPU, dir / "plain"),
      "precision \"bf16\": this processor has neither AVX512-BF16 nor AMX (no avx512_bf16 or "
      "amx_bf16 in " +
          plain + "), so bf16 would run slower than fp32; use \"fp32\"");
  std::filesystem::remove_all(dir);
}

TEST_CASE("compute mode: autocast runs matmuls in bf16 inside its scope only", "[compute_mode]") {
  const torch::Tensor x = torch::randn({4, 8});
  torch::Tensor weight = torch::randn({3, 8}).requires_grad_(true);
  ftl::ComputeMode mode;
  {
    ftl::AutocastScope fp32(mode, torch::kCPU);
    CHECK(torch::linear(x, weight).scalar_type() == torch::kFloat32);
  }
  mode.bf16 = true;
  torch::Tensor before;
  {
    ftl::AutocastScope bf16(mode, torch::kCPU);
    before = torch::linear(x, weight);
    CHECK(before.scalar_type() == torch::kBFloat16);
  }
  CHECK(torch::linear(x, weight).scalar_type() == torch::kFloat32);
  // The optimizer changes the weight between steps: the next scope must not reuse autocast's
  // bf16 copy of the old one.
  {
    torch::NoGradGuard no_grad;
    weight.add_(1.0);
  }
  ftl::AutocastScope bf16(mode, torch::kCPU);
  const torch::Tensor after = torch::linear(x, weight).to(torch::kFloat32);
  const torch::Tensor expected = torch::linear(x, weight.detach()).to(torch::kFloat32);
  CHECK(torch::allclose(after, expected, /*rtol=*/2e-2, /*atol=*/0.1));
  CHECK_FALSE(torch::allclose(after, before.to(torch::kFloat32), 2e-2, 0.1));
}
