// Injected faults on a real run, through the ftl executable: the file size limit hit while a
// checkpoint is written, checkpoints cut short or with a bit flipped at random offsets, SIGKILL
// at random moments, and output folders that cannot be made or written. Each must end in a
// clear error and a non-zero exit, never a crash, and must leave what was already written
// intact.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "ftl/config/config.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/train_state.h"
#include "ftl/train/trainer.h"
#include "support/fixtures.h"
#include "support/process.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::ftl_command;
using ftl::testing::run_command;
using ftl::testing::shell_quote;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

constexpr int kFaultSide = ftl::testing::kShapesInputSide;
/// Exit statuses above this mean the shell saw the process die of a signal (a crash).
constexpr int kKilledBySignal = 128;

/// A one-epoch run on the shapes, its folder inside `dir`.
fs::path one_epoch_run(const ftl::testing::TempDir& dir) {
  ftl::testing::write_shapes(dir / "train", 4, kFaultSide, 31);
  ftl::testing::write_shapes(dir / "val", 2, kFaultSide, 32);
  ftl::Config config = ftl::testing::shapes_config(dir.path(), "run");
  config.data.batch_size = 4;
  config.train.epochs = 1;
  return ftl::finetune(config, ftl::testing::quiet_logger()).run_dir;
}

/// Resume progress in last.pt: optimizer steps done, those of finished epochs included; -1
/// while there is no last.pt. Loading it checks every CRC-32, so a damaged file fails the test.
std::int64_t saved_progress(const fs::path& last, std::int64_t steps_per_epoch) {
  if (!fs::exists(last)) return -1;
  const ftl::Checkpoint checkpoint = ftl::load_checkpoint(
      last, torch::Device(torch::kCPU), {ftl::kTrainStateName, ftl::kTrainTensorsName});
  const ftl::TrainState state = ftl::decode_train_state(checkpoint.extra, last.string());
  return state.epochs_done * steps_per_epoch + state.steps_done;
}

bool has_temporary_file(const fs::path& folder) {
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().filename().string().find(".tmp-") != std::string::npos) return true;
  }
  return false;
}

/// inspect, evaluate and predict on `checkpoint` each exit 1, without a crash, with an error
/// that names the file and holds `reason`.
void check_refused_by_every_command(const fs::path& checkpoint, const fs::path& images,
                                    const std::string& reason) {
  for (const std::string& command : {"inspect " + shell_quote(checkpoint.string()),
                                     "evaluate --checkpoint " + shell_quote(checkpoint.string()) +
                                         " --data " + shell_quote(images.string()),
                                     "predict --checkpoint " + shell_quote(checkpoint.string()) +
                                         " " + shell_quote(images.string())}) {
    const auto result = run_command(ftl_command(command));
    INFO(command << "\n" << result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.exit_code < kKilledBySignal);
    CHECK_THAT(result.output, Contains(checkpoint.string() + ": " + reason));
  }
}

}  // namespace

TEST_CASE("faults: a checkpoint write over the file size limit keeps the last checkpoint",
          "[fault]") {
  ftl::testing::TempDir dir;
  const fs::path run = one_epoch_run(dir);
  const fs::path last = run / "checkpoints/last.pt";
  const std::string before = ftl::testing::read_file(last);
  REQUIRE(before.size() > 1024 * 1024);

  // Room for every small file, not for a checkpoint: the write fails part-way (EFBIG), as on
  // a disk that fills up. The shell's limit is in blocks of 1024 bytes.
  const std::size_t blocks = before.size() / 2 / 1024;
  const auto result = run_command(
      "ulimit -f " + std::to_string(blocks) + " && " +
      ftl_command("finetune --resume " + shell_quote(run.string()) + " --set train.epochs=2"));
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.output, Contains("last.pt: write failed: File too large"));
  // The checkpoint of epoch 1 is untouched and loads; no temporary file is left.
  CHECK(ftl::testing::read_file(last) == before);
  CHECK(ftl::load_checkpoint(last, torch::Device(torch::kCPU)).metadata.epoch == 1);
  CHECK_FALSE(has_temporary_file(run / "checkpoints"));
  // With room again, the run resumes from that checkpoint and finishes.
  const auto resumed = run_command(
      ftl_command("finetune --resume " + shell_quote(run.string()) + " --set train.epochs=2"));
  INFO(resumed.output);
  CHECK(resumed.exit_code == 0);
  CHECK(ftl::load_checkpoint(last, torch::Device(torch::kCPU)).metadata.epoch == 2);
}

TEST_CASE("faults: a checkpoint cut short anywhere is a clear error for every command", "[fault]") {
  ftl::testing::TempDir dir;
  const fs::path run = one_epoch_run(dir);
  const std::string whole = ftl::testing::read_file(run / "checkpoints/last.pt");
  std::mt19937_64 random(20261128);
  std::uniform_int_distribution<std::size_t> offset(0, whole.size() - 1);
  constexpr int kCuts = 12;
  for (int i = 0; i < kCuts; ++i) {
    const std::size_t size = i == 0 ? 0 : offset(random);
    const fs::path cut = dir / ("cut_" + std::to_string(size) + ".pt");
    std::ofstream(cut, std::ios::binary) << whole.substr(0, size);
    INFO("cut at " << size << " of " << whole.size() << " bytes");
    // An empty file is no archive at all, and LibTorch's loader says so.
    check_refused_by_every_command(cut, dir / "val", size == 0 ? "" : "damaged file");
  }
  // A resume state cut short: --resume refuses it, naming last.pt, and leaves it as it is.
  std::ofstream(run / "checkpoints/last.pt", std::ios::binary) << whole.substr(0, whole.size() / 3);
  const auto resumed = run_command(ftl_command("finetune --resume " + shell_quote(run.string())));
  INFO(resumed.output);
  CHECK(resumed.exit_code == 1);
  CHECK_THAT(resumed.output, Contains((run / "checkpoints/last.pt").string()));
  CHECK(ftl::testing::read_file(run / "checkpoints/last.pt").size() == whole.size() / 3);
}

TEST_CASE("faults: an output folder that cannot be made is an error before training", "[fault]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 2, kFaultSide, 33);
  ftl::testing::write_shapes(dir / "val", 1, kFaultSide, 34);
  std::ofstream(dir / "a_file") << "not a folder";
  const std::string run = (dir / "a_file/run").string();  // below a file: mkdir fails
  ftl::Config config = ftl::testing::shapes_config(dir.path(), "unused");
  config.output.dir = run;
  std::ofstream(dir / "config.json") << ftl::config_to_json(config).dump();
  const auto result =
      run_command(ftl_command("finetune --config " + shell_quote((dir / "config.json").string())));
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.output, Contains(run));
  CHECK_THAT(result.output, !Contains("epoch 1"));
}

TEST_CASE("faults: a checkpoint with a flipped bit is refused by every command", "[fault]") {
  ftl::testing::TempDir dir;
  const fs::path run = one_epoch_run(dir);
  const fs::path last = run / "checkpoints/last.pt";
  const std::string whole = ftl::testing::read_file(last);
  std::mt19937_64 random(20261129);
  std::uniform_int_distribution<std::size_t> offset(0, whole.size() - 1);
  std::uniform_int_distribution<int> bit(0, 7);
  constexpr int kFlips = 12;
  for (int i = 0; i < kFlips; ++i) {
    const std::size_t at = offset(random);
    std::string flipped = whole;
    flipped[at] = static_cast<char>(flipped[at] ^ (1 << bit(random)));
    const fs::path path = dir / ("flipped_" + std::to_string(at) + ".pt");
    std::ofstream(path, std::ios::binary) << flipped;
    INFO("bit flipped at " << at << " of " << whole.size() << " bytes");
    check_refused_by_every_command(path, dir / "val", "damaged file");
  }
  // The resume state too: --resume refuses it, naming last.pt, and leaves it as it is.
  std::string flipped = whole;
  flipped[whole.size() / 2] = static_cast<char>(flipped[whole.size() / 2] ^ 0x10);
  std::ofstream(last, std::ios::binary) << flipped;
  const auto resumed = run_command(
      ftl_command("finetune --resume " + shell_quote(run.string()) + " --set train.epochs=2"));
  INFO(resumed.output);
  CHECK(resumed.exit_code == 1);
  CHECK_THAT(resumed.output, Contains(last.string() + ": damaged file: entry '"));
  CHECK(ftl::testing::read_file(last) == flipped);
}

TEST_CASE(
    "faults: after SIGKILL at 20 random moments every resume goes on from the last "
    "complete checkpoint",
    "[fault][e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 4, kFaultSide, 41);  // 12 images: 3 steps an epoch
  ftl::testing::write_shapes(dir / "val", 1, kFaultSide, 42);
  constexpr std::int64_t kStepsPerEpoch = 3;
  ftl::Config config = ftl::testing::shapes_config(dir.path(), "reference");
  config.data.batch_size = 4;
  config.train.epochs = 2;
  config.train.deterministic = true;
  config.train.checkpoint_every_steps = 1;  // saves at every step: kills land mid-write too
  const fs::path config_path = dir / "run.json";
  std::ofstream(config_path) << ftl::config_to_json(config).dump();

  // The uninterrupted run, and its time per step: from one save of last.pt to the next.
  const fs::path reference_last_path = dir / "reference/checkpoints/last.pt";
  const pid_t reference = ftl::testing::spawn_ftl({"finetune", "--config", config_path.string()},
                                                  dir / "reference.log");
  std::vector<steady_clock::time_point> saves;
  int reference_exit = -1;
  while ((reference_exit = ftl::testing::wait_for_new_file(reference, reference_last_path)) == -1) {
    saves.push_back(steady_clock::now());
  }
  INFO(ftl::testing::read_file(dir / "reference.log"));
  REQUIRE(reference_exit == 0);
  const std::string reference_last = ftl::testing::read_file(reference_last_path);
  REQUIRE(ftl::load_checkpoint(reference_last_path, torch::Device(torch::kCPU)).metadata.epoch ==
          2);
  REQUIRE(saves.size() >= 2);
  const auto step_ms =
      std::chrono::duration_cast<milliseconds>(saves.back() - saves.front()).count() /
      static_cast<std::int64_t>(saves.size() - 1);

  const fs::path run = dir / "killed";
  const fs::path last = run / "checkpoints/last.pt";
  const fs::path log = dir / "killed.log";
  // --resume auto starts the run over when a kill came before its first save.
  const std::vector<std::string> resume_auto = {
      "finetune", "--config", config_path.string(), "--set", "output.dir=" + run.string(),
      "--resume", "auto"};
  std::mt19937_64 random(20261129);
  // A random moment: after 0 or 1 more saves, a random time into the next step. Tied to the
  // saves rather than to the clock, the kills make progress however loaded the machine is.
  std::uniform_int_distribution<int> saves_first(0, 1);
  std::uniform_int_distribution<std::int64_t> delay_ms(0, step_ms);
  constexpr int kKills = 20;
  int kills = 0;
  int kills_after_a_save = 0;
  int finished_runs = 0;
  std::int64_t progress = -1;
  while (kills < kKills) {
    const pid_t pid = ftl::testing::spawn_ftl(resume_auto, log);
    int exit_code = -1;
    for (int wait = saves_first(random); wait > 0 && exit_code == -1; --wait) {
      exit_code = ftl::testing::wait_for_new_file(pid, last);
    }
    const auto kill_at = steady_clock::now() + milliseconds(delay_ms(random));
    while (exit_code == -1 && steady_clock::now() < kill_at) {
      std::this_thread::sleep_for(milliseconds(2));
      exit_code = ftl::testing::exit_code_if_ended(pid);
    }
    if (exit_code == -1) {
      ::kill(pid, SIGKILL);
      exit_code = ftl::testing::wait_exit_code(pid);
    }
    // A run that ended between the last look and the kill is a finished run, below.
    if (exit_code == 128 + SIGKILL) {
      ++kills;
      // Whatever the moment, last.pt is a complete checkpoint that passes every check, and
      // it is never behind the one before the kill.
      const std::int64_t now = saved_progress(last, kStepsPerEpoch);
      INFO("kill " << kills << ": progress " << progress << " -> " << now);
      CHECK(now >= progress);
      kills_after_a_save += now >= 0 ? 1 : 0;
      progress = now;
      continue;
    }
    // The run ended before its kill: it finished where the uninterrupted run does. Start over.
    INFO(ftl::testing::read_file(log));
    REQUIRE(exit_code == 0);
    CHECK(ftl::testing::read_file(last) == reference_last);
    ++finished_runs;
    fs::remove_all(run);
    progress = -1;
  }
  const int last_exit = ftl::testing::wait_exit_code(ftl::testing::spawn_ftl(resume_auto, log));
  INFO(ftl::testing::read_file(log));
  REQUIRE(last_exit == 0);
  CHECK(ftl::testing::read_file(last) == reference_last);
  CHECK_FALSE(has_temporary_file(run / "checkpoints"));
  CHECK(kills_after_a_save > 0);
  std::printf(
      "SIGKILL trial: %d kills (%d after a save), %d runs finished between them; "
      "every resume succeeded (%lld ms a step)\n",
      kills, kills_after_a_save, finished_runs + 1, static_cast<long long>(step_ms));
}

TEST_CASE("faults: a read-only output folder is an error before training", "[fault]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 2, kFaultSide, 35);
  ftl::testing::write_shapes(dir / "val", 1, kFaultSide, 36);
  const fs::path locked = dir / "locked";
  fs::create_directory(locked);
  fs::permissions(locked, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  // Root writes through permissions: as root, ftl runs as the unprivileged user nobody, who
  // can read the inputs (the test folders are world-readable) but not write to `locked`.
  const std::string as_user =
      ::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  for (const fs::path& output : {locked, locked / "run"}) {
    ftl::Config config = ftl::testing::shapes_config(dir.path(), "unused");
    config.output.dir = output.string();
    const fs::path config_path = dir / "config.json";
    std::ofstream(config_path) << ftl::config_to_json(config).dump();
    const auto result = run_command(
        as_user + ftl_command("finetune --config " + shell_quote(config_path.string())));
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Contains(output.string()) && Contains("Permission denied"));
    CHECK_THAT(result.output, !Contains("epoch 1"));
  }
  CHECK(fs::is_empty(locked));
}
