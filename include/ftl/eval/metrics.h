// Classification metrics accumulated batch by batch: loss, accuracy, top-k accuracy, the
// confusion matrix and per-class precision / recall / F1. Used by validation and `evaluate`.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ftl {

struct ClassStats {
  double precision = 0;  // 0 when the class was never predicted
  double recall = 0;     // 0 when the class has no samples
  double f1 = 0;
  std::int64_t support = 0;  // samples whose true class this is
};

/// One confidence bin of the calibration: the samples whose top softmax probability lies in
/// (lower, upper].
struct CalibrationBin {
  double lower = 0;
  double upper = 0;
  std::int64_t count = 0;      // samples in the bin
  double mean_confidence = 0;  // their mean top probability; 0 when the bin is empty
  double accuracy = 0;         // the share of them predicted right; 0 when the bin is empty
};

class MetricsAccumulator {
 public:
  /// top_k is the k of top-k accuracy (clamped to num_classes).
  explicit MetricsAccumulator(std::int64_t num_classes, std::int64_t top_k = 5);

  /// logits [n, num_classes], labels [n] (int64), on any device.
  void add(const torch::Tensor& logits, const torch::Tensor& labels);

  /// The same, for a batch whose summed cross-entropy is already known (training computes it
  /// for backward), so it is not computed twice.
  void add(const torch::Tensor& logits, const torch::Tensor& labels, double loss_sum);

  std::int64_t count() const { return count_; }
  double mean_loss() const;  // mean cross-entropy
  double accuracy() const;
  double top_k_accuracy() const;  // true class among the k highest logits
  std::int64_t top_k() const { return top_k_; }
  /// rows = true class, columns = predicted class
  const std::vector<std::vector<std::int64_t>>& confusion() const { return confusion_; }
  std::vector<ClassStats> per_class() const;

  /// Confidence bins of the expected calibration error (Guo et al. 2017): bin b holds the
  /// samples whose top softmax probability lies in (b/15, (b+1)/15].
  static constexpr int kCalibrationBins = 15;
  /// The kCalibrationBins bins, lowest confidence first: a reliability diagram's bars.
  std::vector<CalibrationBin> calibration() const;
  /// Expected calibration error: the gap |accuracy - mean confidence| of each bin of
  /// calibration(), weighted by the share of samples in it.
  double expected_calibration_error() const;

  /// Every total as one float64 tensor (counts are exact below 2^53), and back: the ranks of
  /// a distributed run sum their tensors to merge what each one validated.
  torch::Tensor totals() const;
  void set_totals(const torch::Tensor& totals);

 private:
  std::int64_t totals_size() const;

  std::int64_t num_classes_;
  std::int64_t top_k_;
  std::int64_t count_ = 0;
  std::int64_t correct_ = 0;
  std::int64_t top_k_correct_ = 0;
  double loss_sum_ = 0;
  std::vector<std::vector<std::int64_t>> confusion_;
  std::vector<std::int64_t> bin_count_ = std::vector<std::int64_t>(kCalibrationBins, 0);
  std::vector<std::int64_t> bin_correct_ = std::vector<std::int64_t>(kCalibrationBins, 0);
  std::vector<double> bin_confidence_ = std::vector<double>(kCalibrationBins, 0.0);
};

}  // namespace ftl
