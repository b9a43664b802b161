// The run folder (output.dir): the files a run owns there, and the checks that keep one run
// from writing over another unasked.
#pragma once

#include <filesystem>

#include "ftl/model/run_layout.h"

namespace ftl {

/// What to do with an output.dir that already holds a run.
enum class RunMode {
  kNew,        // refuse it
  kResume,     // continue it from checkpoints/last.pt
  kOverwrite,  // replace it (once the data and model have loaded)
};

/// Whether `dir` holds a run's results (config.json, metrics, summary.json, checkpoints/).
bool holds_run(const std::filesystem::path& dir);

/// Whether checkpoints/ in `dir` holds any .pt file.
bool holds_checkpoint_files(const std::filesystem::path& dir);

/// checkpoints/last.pt of the run in `dir`: the newest weights with the resume state.
std::filesystem::path last_checkpoint_path(const std::filesystem::path& dir);

/// Throws IoError naming the first result of an earlier run found in `dir`, about
/// Choice::kResumeOrOverwrite: the caller may continue that run or replace it.
void check_run_dir_free(const std::filesystem::path& dir);

/// Removes a run's results from `dir`, checkpoints first (a kill midway must not leave a
/// last.pt without its metrics); other files there are left alone. Throws IoError.
void remove_run_outputs(const std::filesystem::path& dir);

/// Creates `dir` and its checkpoints/ folder; throws IoError naming output.dir.
void create_run_dir(const std::filesystem::path& dir);

/// Removes the temporary files (.NAME.tmp-PID) that a killed atomic write left in `folder`.
void remove_stale_temporaries(const std::filesystem::path& folder);

}  // namespace ftl
