#include "ftl/train/metrics_log.h"

#include "ftl/model/run_layout.h"
#include "ftl/util/errors.h"
#include "ftl/util/files.h"

namespace ftl {
namespace {

// Column order of both files; to_json and the CSV header follow it. The EMA's two columns
// follow val_acc in runs with train.ema.
std::vector<std::string> columns(bool ema) {
  std::vector<std::string> names = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc"};
  if (ema) names.insert(names.end(), {"val_loss_ema", "val_acc_ema"});
  names.insert(names.end(), {"lr", "lr_end", "seconds", "images_per_s", "stop"});
  return names;
}

void check(const std::ofstream& stream, const std::filesystem::path& path) {
  // iostreams do not report why a write failed; a full disk is the usual cause.
  if (!stream) throw IoError(path.string() + ": cannot write (disk full or no permission?)");
}

std::string csv_header(const std::vector<std::string>& names) {
  std::string header;
  for (const std::string& column : names) header += (header.empty() ? "" : ",") + column;
  return header + "\n";
}

std::string csv_row(const nlohmann::ordered_json& line, const std::vector<std::string>& names) {
  std::string row;
  for (const std::string& column : names) row += (row.empty() ? "" : ",") + line.at(column).dump();
  return row + "\n";
}

// The first `keep` lines of an earlier metrics.jsonl, each checked to be a complete record.
std::vector<nlohmann::ordered_json> read_kept_lines(const std::filesystem::path& path,
                                                    std::int64_t keep,
                                                    const std::vector<std::string>& names) {
  std::vector<nlohmann::ordered_json> lines;
  if (keep <= 0) return lines;
  std::ifstream in(path);
  std::string text;
  while (static_cast<std::int64_t>(lines.size()) < keep && std::getline(in, text)) {
    try {
      const auto line = nlohmann::ordered_json::parse(text);
      for (const std::string& column : names) (void)line.at(column);
      lines.push_back(line);
      lines.back()["stop"] = "";  // the run goes on past these epochs
    } catch (const nlohmann::json::exception& error) {
      throw IoError(path.string() + ": line " + std::to_string(lines.size() + 1) +
                    " is not a metrics record: " + error.what());
    }
  }
  if (static_cast<std::int64_t>(lines.size()) < keep) {
    throw IoError(path.string() + ": holds " + std::to_string(lines.size()) +
                  " epochs, but the checkpoint to resume from has done " + std::to_string(keep));
  }
  return lines;
}

}  // namespace

nlohmann::ordered_json to_json(const EpochMetrics& m) {
  const nlohmann::ordered_json val_loss =
      m.validated ? nlohmann::ordered_json(m.val_loss) : nullptr;
  const nlohmann::ordered_json val_acc = m.validated ? nlohmann::ordered_json(m.val_acc) : nullptr;
  nlohmann::ordered_json line = {{"epoch", m.epoch},
                                 {"train_loss", m.train_loss},
                                 {"train_acc", m.train_acc},
                                 {"val_loss", val_loss},
                                 {"val_acc", val_acc}};
  if (m.has_ema) {
    line["val_loss_ema"] = m.validated ? nlohmann::ordered_json(m.val_loss_ema) : nullptr;
    line["val_acc_ema"] = m.validated ? nlohmann::ordered_json(m.val_acc_ema) : nullptr;
  }
  line["lr"] = m.lr;
  line["lr_end"] = m.lr_end;
  line["seconds"] = m.seconds;
  line["images_per_s"] = m.images_per_s;
  line["stop"] = m.stop;
  return line;
}

MetricsLog::MetricsLog(const std::filesystem::path& run_dir, std::int64_t keep_epochs, bool ema)
    : columns_(columns(ema)),
      jsonl_path_(run_dir / kMetricsName),
      csv_path_(run_dir / "metrics.csv") {
  lines_ = read_kept_lines(jsonl_path_, keep_epochs, columns_);
  std::string jsonl;
  std::string csv = csv_header(columns_);
  for (const nlohmann::ordered_json& line : lines_) {
    jsonl += line.dump() + "\n";
    csv += csv_row(line, columns_);
  }
  // Whole files first (a resumed run replaces what it does not keep), then append from there.
  write_file_atomic(jsonl_path_, jsonl);
  write_file_atomic(csv_path_, csv);
  jsonl_.open(jsonl_path_, std::ios::app);
  csv_.open(csv_path_, std::ios::app);
  check(jsonl_, jsonl_path_);
  check(csv_, csv_path_);
}

void MetricsLog::append(const EpochMetrics& m) { write_line(to_json(m)); }

void MetricsLog::write_line(const nlohmann::ordered_json& line) {
  jsonl_ << line.dump() << '\n' << std::flush;
  check(jsonl_, jsonl_path_);
  csv_ << csv_row(line, columns_) << std::flush;
  check(csv_, csv_path_);
  lines_.push_back(line);
}

}  // namespace ftl
