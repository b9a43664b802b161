#include "ftl/export/parity.h"

#include "ftl/image/image.h"

namespace ftl {
namespace {

constexpr double kFp32Bound = 1e-5;
constexpr double kOnnxBound = 1e-4;
constexpr double kBf16Bound = 2e-2;
constexpr double kBf16Agreement = 0.99;
constexpr std::uint64_t kSeed = 20261206;  // any fixed value: the same inputs on every run
constexpr std::int64_t kDynamicSizes[] = {2, 3};
constexpr std::int64_t kFixedBatches = 2;

}  // namespace

ParityBound parity_bound(ExportFormat format, Precision precision) {
  if (precision == Precision::kBf16) return {kBf16Bound, kBf16Agreement};
  if (format == ExportFormat::kOnnx) return {kOnnxBound, 0.0};
  return {kFp32Bound, 0.0};
}

ParityReport compare_probabilities(const torch::Tensor& reference, const torch::Tensor& exported,
                                   const ParityBound& bound) {
  const torch::Tensor a = reference.to(torch::kCPU, torch::kFloat64);
  const torch::Tensor b = exported.to(torch::kCPU, torch::kFloat64);
  ParityReport report;
  report.bound = bound;
  report.images = a.size(0);
  if (report.images == 0) return report;
  report.max_difference = (a - b).abs().max().item<double>();
  const torch::Tensor same = a.argmax(1).eq(b.argmax(1));
  report.agreement = same.to(torch::kFloat64).mean().item<double>();
  return report;
}

std::vector<torch::Tensor> generated_batches(std::int64_t side, std::int64_t batch) {
  torch::Generator generator = at::make_generator<at::CPUGeneratorImpl>(kSeed);
  std::vector<std::int64_t> sizes(std::begin(kDynamicSizes), std::end(kDynamicSizes));
  if (batch > 0) sizes.assign(kFixedBatches, batch);
  std::vector<torch::Tensor> batches;
  for (const std::int64_t size : sizes) {
    batches.push_back(
        at::randn({size, kImageChannels, side, side}, generator, torch::TensorOptions()));
  }
  return batches;
}

std::vector<torch::Tensor> split_batches(const torch::Tensor& images, std::int64_t batch,
                                         bool pad) {
  const std::int64_t n = images.size(0);
  if (batch <= 0 || n == 0) return {images};
  std::vector<torch::Tensor> batches;
  for (std::int64_t start = 0; start < n; start += batch) {
    torch::Tensor part = images.slice(0, start, std::min(n, start + batch));
    if (pad && part.size(0) < batch) {
      // A fixed batch axis takes exactly `batch` images: the rest come round from the start.
      const torch::Tensor repeats =
          images.index_select(0, torch::arange(batch - part.size(0), torch::kInt64).remainder(n));
      part = torch::cat({part, repeats});
    }
    batches.push_back(part);
  }
  return batches;
}

}  // namespace ftl
