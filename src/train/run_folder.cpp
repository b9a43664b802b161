#include "ftl/train/run_folder.h"

#include <string>
#include <system_error>

#include "ftl/util/errors.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

/// What a run writes in its folder, in the order it is removed.
const char* const kRunOutputs[] = {kCheckpointDir,  kMetricsName,  "metrics.csv", kConfigName,
                                   kSummaryName,    kDataName,     kReportName,   kBadImagesName,
                                   kTrainSplitName, kValSplitName, kTimingName};

}  // namespace

bool holds_run(const fs::path& dir) {
  for (const char* output : kRunOutputs) {
    if (fs::exists(dir / output)) return true;
  }
  return false;
}

bool holds_checkpoint_files(const fs::path& dir) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir / kCheckpointDir, error)) {
    if (entry.path().extension() == ".pt") return true;
  }
  return false;
}

fs::path last_checkpoint_path(const fs::path& dir) { return dir / kCheckpointDir / kLastName; }

void check_run_dir_free(const fs::path& run_dir) {
  for (const char* existing : kRunOutputs) {
    if (fs::exists(run_dir / existing)) {
      throw IoError("output.dir " + run_dir.string() + " already holds a run (" + existing + ")",
                    Choice::kResumeOrOverwrite);
    }
  }
}

void remove_run_outputs(const fs::path& run_dir) {
  for (const char* output : kRunOutputs) {
    std::error_code error;
    fs::remove_all(run_dir / output, error);
    if (error) {
      throw IoError((run_dir / output).string() + ": cannot remove: " + error.message());
    }
  }
}

void create_run_dir(const fs::path& run_dir) {
  std::error_code error;
  fs::create_directories(run_dir / kCheckpointDir, error);
  if (error) {
    throw IoError("output.dir " + run_dir.string() + ": cannot create: " + error.message());
  }
}

void remove_stale_temporaries(const fs::path& folder) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 1 && name[0] == '.' && name.find(".tmp-") != std::string::npos) {
      fs::remove(entry.path(), error);
    }
  }
}

}  // namespace ftl
