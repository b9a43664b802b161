// Data-parallel training: real runs of 2 ftl processes on 127.0.0.1 against 1 process (the
// launch environment and the sharding: tests/unit/distributed/).
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>

#include "ftl/config/config.h"
#include "ftl/distributed/communicator.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/train_state.h"
#include "support/fixtures.h"
#include "support/free_port.h"
#include "support/process.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::free_port;
using ftl::testing::ftl_command;
using ftl::testing::kSkipped;
using ftl::testing::run_command;
using ftl::testing::shell_quote;
using ftl::testing::write_config;

namespace {

// 30 training images (uneven global batches of 16: rank 1 has 6 images at the last step) and
// 9 validation images (5 on rank 0, 4 on rank 1), the whole network training with BatchNorm
// in eval mode: per-rank batch statistics would differ from the global batch's.
ftl::Config equivalence_config(const fs::path& dir, const std::string& run,
                               std::int64_t batch_size) {
  ftl::Config config = ftl::testing::shapes_config(dir, run);
  config.model.batchnorm = ftl::BatchNormPolicy::kFrozen;
  config.data.batch_size = batch_size;
  config.data.workers = 1;
  config.train.threads = 1;
  config.train.epochs = 2;
  config.dist.timeout_s = 60;
  return config;
}

// One ftl process on `config`, which must succeed: the reference for the ranks.
void run_alone(const fs::path& config) {
  const auto result = run_command(ftl_command("finetune --config " + shell_quote(config.string())));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
}

// A build with FTL_DISTRIBUTED OFF has no process group: its runs are skipped, and its refusal
// is tested instead ("communicator: ...").
void skip_without_distributed() {
  if (ftl::distributed_available()) return;
  std::cerr << "SKIPPED: this ftl was built with FTL_DISTRIBUTED OFF\n";
  std::exit(kSkipped);
}

// The largest difference between two checkpoints' parameters, which must have the same names.
double max_weight_difference(const fs::path& a, const fs::path& b) {
  const ftl::Checkpoint first = ftl::load_checkpoint(a, torch::kCPU);
  const ftl::Checkpoint second = ftl::load_checkpoint(b, torch::kCPU);
  std::map<std::string, torch::Tensor> reference;
  for (const auto& parameter : first.module.named_parameters()) {
    reference[parameter.name] = parameter.value;
  }
  double largest = 0;
  std::size_t compared = 0;
  for (const auto& parameter : second.module.named_parameters()) {
    const torch::Tensor& other = reference.at(parameter.name);
    largest = std::max(largest, (parameter.value - other).abs().max().item<double>());
    ++compared;
  }
  REQUIRE(compared == reference.size());
  return largest;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// torchrun from Debian's python3-torch: rendezvous through its agent's store, ranks and the
// master address from the environment. -r/-t send each rank's output to the console
// (torchrun 1.13's default wiring of it fails under Python 3.11).
std::string torchrun(int processes, int port, const std::string& ftl_arguments) {
  return shell_quote(ftl::testing::kPython) +
         " -m torch.distributed.run --nnodes 1 --nproc_per_node " + std::to_string(processes) +
         " --master_addr 127.0.0.1 --master_port " + std::to_string(port) +
         " -r 1 -t 1 --no_python " + ftl_command(ftl_arguments);
}

}  // namespace

TEST_CASE(
    "distributed: 2 ranks under torchrun end with the weights of 1 process on the global "
    "batch and resume alike",
    "[distributed][e2e]") {
  skip_without_distributed();
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 10, 3, 41);

  const fs::path single =
      write_config(dir / "single.json", equivalence_config(dir.path(), "single", 16));
  run_alone(single);

  const fs::path pair = write_config(dir / "pair.json", equivalence_config(dir.path(), "pair", 8));
  const auto together =
      run_command(torchrun(2, free_port(), "finetune --config " + shell_quote(pair.string())));
  INFO(together.output);
  REQUIRE(together.exit_code == 0);
  CHECK_THAT(together.output, Contains("distributed: all 2 ranks joined") &&
                                  Contains("(gloo); global batch 8 x 2 = 16") &&
                                  Contains("[rank 1] ") && Contains("all-reduce"));
  CHECK(max_weight_difference(dir / "single/checkpoints/last.pt",
                              dir / "pair/checkpoints/last.pt") <= 1e-4);
  // Validation was sharded and merged: the same figures as one process's.
  const auto single_metrics =
      nlohmann::json::parse(ftl::testing::read_file(dir / "single/summary.json"));
  const auto pair_metrics =
      nlohmann::json::parse(ftl::testing::read_file(dir / "pair/summary.json"));
  CHECK(pair_metrics.at("best_epoch") == single_metrics.at("best_epoch"));
  CHECK(pair_metrics.at("best_value").get<double>() ==
        Approx(single_metrics.at("best_value").get<double>()).margin(1e-6));
  std::ifstream single_lines(dir / "single/metrics.jsonl");
  std::ifstream pair_lines(dir / "pair/metrics.jsonl");
  std::string single_line;
  std::string pair_line;
  int epochs = 0;
  while (std::getline(single_lines, single_line) && std::getline(pair_lines, pair_line)) {
    const auto a = nlohmann::json::parse(single_line);
    const auto b = nlohmann::json::parse(pair_line);
    CHECK(b.at("val_acc") == a.at("val_acc"));
    CHECK(b.at("val_loss").get<double>() == Approx(a.at("val_loss").get<double>()).margin(1e-5));
    CHECK(b.at("train_loss").get<double>() ==
          Approx(a.at("train_loss").get<double>()).margin(1e-5));
    CHECK(b.at("train_acc") == a.at("train_acc"));
    ++epochs;
  }
  CHECK(epochs == 2);

  // One epoch with 2 ranks, then a distributed resume to the second: the same weights again.
  const auto first = run_command(
      torchrun(2, free_port(),
               "finetune --config " + shell_quote(pair.string()) + " --set train.epochs=1 --set " +
                   "output.dir=" + shell_quote((dir / "resumed").string())));
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  const auto second = run_command(torchrun(
      2, free_port(),
      "finetune --resume " + shell_quote((dir / "resumed").string()) + " --set train.epochs=2"));
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.output, Contains("resuming"));
  CHECK(max_weight_difference(dir / "single/checkpoints/last.pt",
                              dir / "resumed/checkpoints/last.pt") <= 1e-4);
}

TEST_CASE(
    "distributed: with a frozen backbone the ranks share the feature extraction and the "
    "bad images",
    "[distributed][e2e]") {
  skip_without_distributed();
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 10, 3, 71);
  // The ranks extract features round-robin: circle/0a_bad.png sorts second, after
  // circle/0.png, so rank 1 decodes it.
  std::ofstream(dir / "train/circle/0a_bad.png") << "not an image";
  ftl::Config config = equivalence_config(dir.path(), "single", 16);
  config.model.freeze = ftl::FreezePolicy::parse("backbone");
  config.data.on_bad_image = ftl::BadImagePolicy::kSkip;
  config.train.epochs = 4;
  const fs::path single = write_config(dir / "single.json", config);
  run_alone(single);
  config.data.batch_size = 8;
  config.output.dir = (dir / "pair").string();
  const fs::path pair = write_config(dir / "pair.json", config);
  for (const pid_t rank :
       ftl::testing::spawn_two_ranks(dir.path(), {"finetune", "--config", pair.string()})) {
    CHECK(ftl::testing::wait_exit_code(rank) == 0);
  }
  const std::string log = ftl::testing::read_file(dir / "rank1.log");
  INFO(ftl::testing::read_file(dir / "rank0.log") + log);
  CHECK_THAT(log, Contains("[rank 1] info feature cache: the backbone's 512-d features of 31 "
                           "training and 9 validation images"));
  CHECK(max_weight_difference(dir / "single/checkpoints/last.pt",
                              dir / "pair/checkpoints/last.pt") <= 1e-5);
  // Rank 1 found the bad image; rank 0 lists it, as one process does.
  CHECK_THAT(ftl::testing::read_file(dir / "pair/bad_images.txt"),
             Contains("0a_bad.png\tnot a JPEG or PNG file"));
  CHECK(ftl::testing::read_file(dir / "pair/bad_images.txt") ==
        ftl::testing::read_file(dir / "single/bad_images.txt"));
}

TEST_CASE(
    "distributed: 2 ranks accumulating 2 batches a step end with the weights of 1 process on "
    "the whole step's batch",
    "[distributed][e2e]") {
  skip_without_distributed();
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 10, 3, 43);
  // Each step is two global batches of 4 x 2 images: the epoch order's first 16 images, as the
  // single process's batch of 16 (the last step: the 14 left).
  run_alone(write_config(dir / "single.json", equivalence_config(dir.path(), "single", 16)));
  ftl::Config pair = equivalence_config(dir.path(), "pair", 4);
  pair.train.accumulate_steps = 2;
  const fs::path file = write_config(dir / "pair.json", pair);
  const std::vector<pid_t> ranks =
      ftl::testing::spawn_two_ranks(dir.path(), {"finetune", "--config", file.string()});
  const int rank0 = ftl::testing::wait_exit_code(ranks[0]);
  const int rank1 = ftl::testing::wait_exit_code(ranks[1]);
  const std::string log = ftl::testing::read_file(dir / "rank0.log");
  INFO(log);
  REQUIRE(rank0 == 0);
  REQUIRE(rank1 == 0);
  CHECK_THAT(log,
             Contains("2 batches of 4 per step on each of 2 ranks (an effective batch of 16)"));
  CHECK(max_weight_difference(dir / "single/checkpoints/last.pt",
                              dir / "pair/checkpoints/last.pt") <= 1e-4);
}

TEST_CASE("distributed: a feature cache file is used only when every rank can read it",
          "[distributed][e2e]") {
  skip_without_distributed();
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 4, 2, 81);
  ftl::Config config = equivalence_config(dir.path(), "run", 8);
  config.model.freeze = ftl::FreezePolicy::parse("backbone");
  config.train.feature_cache =
      ftl::FeatureCacheMode::kDisk;  // in $XDG_CACHE_HOME/ftl/features: one per machine
  config.train.epochs = 1;
  const fs::path file = write_config(dir / "run.json", config);
  // Both ranks at once, each with its own cache folder; returns both logs.
  auto run_pair = [&](const std::string& run, const std::string& cache0,
                      const std::string& cache1) {
    const std::string port = std::to_string(free_port());
    auto rank = [&](const std::string& number, const std::string& cache) {
      return "env XDG_CACHE_HOME=" + shell_quote((dir / cache).string()) + " " +
             ftl_command("finetune --config " + shell_quote(file.string()) +
                         " --set output.dir=" + shell_quote((dir / run).string()) +
                         " --world-size 2 --master-port " + port + " --rank " + number + " > " +
                         shell_quote((dir / (run + number)).string()));
    };
    const auto both = run_command("(" + rank("0", cache0) + " & " + rank("1", cache1) +
                                  " ; code=$? ; wait $! ; exit $((code + $?)))");
    const std::string logs =
        ftl::testing::read_file(dir / (run + "0")) + ftl::testing::read_file(dir / (run + "1"));
    INFO(logs);
    CHECK(both.exit_code == 0);
    return logs;
  };
  // Rank 0 writes the file into its folder; rank 1's stays empty.
  CHECK_THAT(run_pair("first", "cache_a", "cache_b"), Contains("feature cache: wrote"));
  CHECK_FALSE(fs::exists(dir / "cache_b"));
  // Only rank 0 finds it: both compute the features again, together.
  const std::string second = run_pair("second", "cache_a", "cache_b");
  CHECK_THAT(second, !Contains("feature cache: read") &&
                         Contains("is not on every rank; the ranks compute the features again") &&
                         Contains("ready in"));
  // Both find it: both read it.
  const std::string third = run_pair("third", "cache_a", "cache_a");
  CHECK_THAT(third, Contains("[rank 1] info feature cache: read") &&
                        Contains("] info feature cache: read"));
}

TEST_CASE(
    "distributed: a rank killed or hung mid-run makes the other exit non-zero within the timeout",
    "[distributed][e2e]") {
  skip_without_distributed();
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 10, 3, 51);
  ftl::Config config = equivalence_config(dir.path(), "run", 8);
  config.train.epochs = 1000;  // far longer than the test waits
  // A dead peer's connections close at once; a silent one is given up on after the timeout.
  const bool hung = GENERATE(false, true);
  const double timeout = hung ? 5 : 60;
  config.dist.timeout_s = timeout;
  const fs::path file = write_config(dir / "run.json", config);
  const std::vector<pid_t> ranks =
      ftl::testing::spawn_two_ranks(dir.path(), {"finetune", "--config", file.string()});
  // Once rank 0 has saved an epoch both ranks are deep in training.
  REQUIRE(ftl::testing::wait_for_new_file(ranks[0], dir / "run/checkpoints/last.pt") == -1);
  ::kill(ranks[1], hung ? SIGSTOP : SIGKILL);
  const auto stopped = std::chrono::steady_clock::now();
  const int exit_code = ftl::testing::wait_exit_code(ranks[0]);
  const double seconds = seconds_since(stopped);
  if (hung) ::kill(ranks[1], SIGKILL);
  CHECK(ftl::testing::wait_exit_code(ranks[1]) == 128 + SIGKILL);
  const std::string log = ftl::testing::read_file(dir / "rank0.log");
  INFO(log);
  INFO((hung ? "SIGSTOP, " : "SIGKILL, ") << seconds << " s");
  CHECK(exit_code == 1);
  CHECK(seconds < timeout + 10);  // + the time to notice: a step, an epoch's end
  if (hung) CHECK(seconds >= timeout - 1);
  CHECK_THAT(log, Contains("rank 0 of 2: ") && Contains(" failed: ") &&
                      Contains("another rank stopped, died or did not answer within "
                               "dist.timeout_s " +
                               std::to_string(static_cast<int>(timeout)) + "s"));
  // What rank 0 wrote before is intact.
  CHECK_NOTHROW(ftl::load_checkpoint(dir / "run/checkpoints/last.pt", torch::kCPU));
  CHECK_THAT(ftl::testing::read_file(dir / "rank1.log"), Contains("[rank 1] "));
}

TEST_CASE(
    "distributed: a signal to one rank stops both mid-epoch, and only the same world size "
    "resumes there",
    "[distributed][e2e]") {
  skip_without_distributed();
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 10, 3, 91);
  // 30 images in global batches of 2: 15 steps an epoch, saved after each. A frozen backbone
  // without the feature cache keeps the steps slow enough to land the signal mid-epoch, and
  // the run exact enough to compare with one process.
  ftl::Config config = equivalence_config(dir.path(), "single", 2);
  config.model.freeze = ftl::FreezePolicy::parse("backbone");
  config.train.feature_cache = ftl::FeatureCacheMode::kOff;
  run_alone(write_config(dir / "single.json", config));
  config.data.batch_size = 1;
  config.train.checkpoint_every_steps = 1;
  config.output.dir = (dir / "pair").string();
  const fs::path pair = write_config(dir / "pair.json", config);
  const fs::path last = dir / "pair/checkpoints/last.pt";
  const std::vector<pid_t> ranks =
      ftl::testing::spawn_two_ranks(dir.path(), {"finetune", "--config", pair.string()});
  REQUIRE(ftl::testing::wait_for_new_file(ranks[0], last) == -1);
  ::kill(ranks[1], SIGTERM);  // as a scheduler preempting one task would
  for (const pid_t rank : ranks) CHECK(ftl::testing::wait_exit_code(rank) == 128 + SIGTERM);
  INFO(ftl::testing::read_file(dir / "rank0.log") + ftl::testing::read_file(dir / "rank1.log"));
  const ftl::Checkpoint saved =
      ftl::load_checkpoint(last, torch::kCPU, {ftl::kTrainStateName, ftl::kTrainTensorsName});
  const ftl::TrainState state = ftl::decode_train_state(saved.extra, last.string());
  CHECK(state.world_size == 2);
  REQUIRE(state.epochs_done == 0);
  REQUIRE(state.steps_done > 0);  // mid-epoch: the one place another world size is refused

  const std::string resume = "finetune --resume " + shell_quote((dir / "pair").string());
  const auto alone = run_command(ftl_command(resume));
  CHECK(alone.exit_code == 2);
  CHECK_THAT(alone.output, Contains("cannot resume " + (dir / "pair").string() +
                                    " with a world size of 1: " + last.string() +
                                    " was saved at step " + std::to_string(state.steps_done) +
                                    " of epoch 1 by a world size of 2; resume with 2 processes"));
  for (const pid_t rank : ftl::testing::spawn_two_ranks(
           dir.path(), {"finetune", "--resume", (dir / "pair").string()})) {
    CHECK(ftl::testing::wait_exit_code(rank) == 0);
  }
  CHECK_THAT(ftl::testing::read_file(dir / "rank0.log"), Contains("resuming"));
  CHECK(max_weight_difference(dir / "single/checkpoints/last.pt", last) <= 1e-5);
}

TEST_CASE("distributed: a rank that never arrives is an error within dist.timeout_s, not a hang",
          "[distributed][e2e]") {
  skip_without_distributed();
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 2, 1, 61);
  ftl::Config config = equivalence_config(dir.path(), "run", 8);
  config.dist.timeout_s = 3;
  const fs::path file = write_config(dir / "run.json", config);
  const auto start = std::chrono::steady_clock::now();
  // Started as srun starts a task: rank and world size from SLURM, the address from the script.
  const auto result = run_command(
      "env SLURM_PROCID=0 SLURM_NTASKS=2 SLURM_LOCALID=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
      std::to_string(free_port()) + " " +
      ftl_command("finetune --config " + shell_quote(file.string())));
  const double seconds = seconds_since(start);
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK(seconds < 30);
  CHECK_THAT(result.output, Contains("distributed: rank 0 of 2 (SLURM)") &&
                                Contains("rank 0 of 2: the other ranks did not all join through "
                                         "127.0.0.1:") &&
                                Contains("within dist.timeout_s 3s"));
  CHECK_FALSE(fs::exists(dir / "run"));  // nothing written before the ranks met
}
