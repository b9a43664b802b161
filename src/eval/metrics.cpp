#include "ftl/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ftl {

MetricsAccumulator::MetricsAccumulator(std::int64_t num_classes, std::int64_t top_k)
    : num_classes_(num_classes),
      top_k_(std::min(top_k, num_classes)),
      confusion_(static_cast<std::size_t>(num_classes),
                 std::vector<std::int64_t>(static_cast<std::size_t>(num_classes), 0)) {}

void MetricsAccumulator::add(const torch::Tensor& logits, const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  const double loss_sum =
      torch::nn::functional::cross_entropy(
          logits.detach(), labels,
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
          .item<double>();
  add(logits, labels, loss_sum);
}

void MetricsAccumulator::add(const torch::Tensor& logits, const torch::Tensor& labels,
                             double loss_sum) {
  torch::NoGradGuard no_grad;
  const torch::Tensor cpu_logits = logits.detach().to(torch::kCPU, torch::kFloat32);
  const torch::Tensor cpu_labels = labels.to(torch::kCPU, torch::kInt64);
  loss_sum_ += loss_sum;
  const torch::Tensor top = std::get<1>(cpu_logits.topk(top_k_, /*dim=*/1)).contiguous();
  const torch::Tensor confidence =
      std::get<0>(cpu_logits.softmax(/*dim=*/1).max(/*dim=*/1)).to(torch::kFloat64).contiguous();
  const auto* confidences = confidence.data_ptr<double>();
  const auto* top_indices = top.data_ptr<std::int64_t>();
  const auto* truth = cpu_labels.data_ptr<std::int64_t>();
  const std::int64_t n = cpu_labels.size(0);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t predicted = top_indices[i * top_k_];  // topk sorts, largest first
    ++confusion_[static_cast<std::size_t>(truth[i])][static_cast<std::size_t>(predicted)];
    correct_ += predicted == truth[i] ? 1 : 0;
    const auto bin = static_cast<std::size_t>(
        std::clamp(static_cast<int>(std::ceil(confidences[i] * kCalibrationBins)) - 1, 0,
                   kCalibrationBins - 1));
    ++bin_count_[bin];
    bin_correct_[bin] += predicted == truth[i] ? 1 : 0;
    bin_confidence_[bin] += confidences[i];
    for (std::int64_t k = 0; k < top_k_; ++k) {
      if (top_indices[i * top_k_ + k] == truth[i]) ++top_k_correct_;
    }
  }
  count_ += n;
}

double MetricsAccumulator::mean_loss() const {
  return count_ > 0 ? loss_sum_ / static_cast<double>(count_) : 0.0;
}

double MetricsAccumulator::accuracy() const {
  return count_ > 0 ? static_cast<double>(correct_) / static_cast<double>(count_) : 0.0;
}

double MetricsAccumulator::top_k_accuracy() const {
  return count_ > 0 ? static_cast<double>(top_k_correct_) / static_cast<double>(count_) : 0.0;
}

std::vector<CalibrationBin> MetricsAccumulator::calibration() const {
  std::vector<CalibrationBin> bins;
  for (std::size_t b = 0; b < bin_count_.size(); ++b) {
    CalibrationBin bin;
    bin.lower = static_cast<double>(b) / kCalibrationBins;
    bin.upper = static_cast<double>(b + 1) / kCalibrationBins;
    bin.count = bin_count_[b];
    if (bin.count > 0) {
      const auto n = static_cast<double>(bin.count);
      bin.mean_confidence = bin_confidence_[b] / n;
      bin.accuracy = static_cast<double>(bin_correct_[b]) / n;
    }
    bins.push_back(bin);
  }
  return bins;
}

double MetricsAccumulator::expected_calibration_error() const {
  if (count_ == 0) return 0.0;
  double ece = 0;
  for (const CalibrationBin& bin : calibration()) {
    if (bin.count == 0) continue;
    const auto n = static_cast<double>(bin.count);
    ece += n / static_cast<double>(count_) * std::abs(bin.accuracy - bin.mean_confidence);
  }
  return ece;
}

torch::Tensor MetricsAccumulator::totals() const {
  std::vector<double> values = {static_cast<double>(count_), static_cast<double>(correct_),
                                static_cast<double>(top_k_correct_), loss_sum_};
  for (const std::vector<std::int64_t>& row : confusion_) {
    for (const std::int64_t cell : row) values.push_back(static_cast<double>(cell));
  }
  for (const std::int64_t n : bin_count_) values.push_back(static_cast<double>(n));
  for (const std::int64_t n : bin_correct_) values.push_back(static_cast<double>(n));
  values.insert(values.end(), bin_confidence_.begin(), bin_confidence_.end());
  return torch::tensor(values, torch::kFloat64);
}

void MetricsAccumulator::set_totals(const torch::Tensor& totals) {
  const torch::Tensor values = totals.to(torch::kCPU, torch::kFloat64).contiguous();
  if (values.numel() != totals_size()) {
    throw std::invalid_argument(
        "MetricsAccumulator::set_totals: " + std::to_string(values.numel()) + " values for " +
        std::to_string(totals_size()) + " totals");
  }
  const double* value = values.data_ptr<double>();
  auto next_count = [&value] { return static_cast<std::int64_t>(std::llround(*value++)); };
  count_ = next_count();
  correct_ = next_count();
  top_k_correct_ = next_count();
  loss_sum_ = *value++;
  for (std::vector<std::int64_t>& row : confusion_) {
    for (std::int64_t& cell : row) cell = next_count();
  }
  for (std::int64_t& n : bin_count_) n = next_count();
  for (std::int64_t& n : bin_correct_) n = next_count();
  for (double& confidence : bin_confidence_) confidence = *value++;
}

std::int64_t MetricsAccumulator::totals_size() const {
  constexpr std::int64_t kScalars = 4;  // count, correct, top-k correct, loss sum
  return kScalars + num_classes_ * num_classes_ + 3 * kCalibrationBins;
}

std::vector<ClassStats> MetricsAccumulator::per_class() const {
  const auto classes = static_cast<std::size_t>(num_classes_);
  std::vector<ClassStats> stats(classes);
  for (std::size_t c = 0; c < classes; ++c) {
    std::int64_t predicted = 0;
    for (std::size_t row = 0; row < classes; ++row) predicted += confusion_[row][c];
    std::int64_t support = 0;
    for (std::size_t column = 0; column < classes; ++column) support += confusion_[c][column];
    const auto hits = static_cast<double>(confusion_[c][c]);
    ClassStats& s = stats[c];
    s.support = support;
    s.precision = predicted > 0 ? hits / static_cast<double>(predicted) : 0.0;
    s.recall = support > 0 ? hits / static_cast<double>(support) : 0.0;
    const double sum = s.precision + s.recall;
    s.f1 = sum > 0 ? 2 * s.precision * s.recall / sum : 0.0;
  }
  return stats;
}

}  // namespace ftl
