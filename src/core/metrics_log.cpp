#include "ftl/metrics_log.h"

#include "ftl/errors.h"

namespace ftl {
namespace {

// Column order of both files; to_json and the CSV header follow it.
const char* const kColumns[] = {"epoch",   "train_loss", "train_acc", "val_loss",
                                "val_acc", "lr",         "seconds",   "images_per_s"};

void check(const std::ofstream& stream, const std::filesystem::path& path) {
  // iostreams do not report why a write failed; a full disk is the usual cause.
  if (!stream) throw IoError(path.string() + ": cannot write (disk full or no permission?)");
}

}  // namespace

nlohmann::ordered_json to_json(const EpochMetrics& m) {
  return {{"epoch", m.epoch},       {"train_loss", m.train_loss},    {"train_acc", m.train_acc},
          {"val_loss", m.val_loss}, {"val_acc", m.val_acc},          {"lr", m.lr},
          {"seconds", m.seconds},   {"images_per_s", m.images_per_s}};
}

MetricsLog::MetricsLog(const std::filesystem::path& run_dir)
    : jsonl_path_(run_dir / "metrics.jsonl"),
      csv_path_(run_dir / "metrics.csv"),
      jsonl_(jsonl_path_, std::ios::trunc),
      csv_(csv_path_, std::ios::trunc) {
  check(jsonl_, jsonl_path_);
  check(csv_, csv_path_);
  std::string header;
  for (const char* column : kColumns) header += (header.empty() ? "" : ",") + std::string(column);
  csv_ << header << '\n' << std::flush;
  check(csv_, csv_path_);
}

void MetricsLog::append(const EpochMetrics& m) {
  const nlohmann::ordered_json line = to_json(m);
  std::string row;
  for (const char* column : kColumns) row += (row.empty() ? "" : ",") + line.at(column).dump();
  jsonl_ << line.dump() << '\n' << std::flush;
  check(jsonl_, jsonl_path_);
  csv_ << row << '\n' << std::flush;
  check(csv_, csv_path_);
}

}  // namespace ftl
