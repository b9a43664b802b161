// ftl finetune's distributed flags: registered under the names that resolve_launch's messages
// quote, so that an error names the flag the user typed.
#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "ftl/util/errors.h"
#include "support/environment.h"

namespace {

// Parses `ftl ARGUMENTS` and resolves the launch from its flags and `environment`.
std::string flags_launch_error(const std::string& arguments, const ftl::Environment& environment =
                                                                 ftl::testing::environment_of({})) {
  CLI::App app("ftl");
  ftl::cli::FinetuneOptions options;
  ftl::cli::setup_finetune(app, options);
  app.parse(arguments, /*program_name_included=*/false);
  try {
    ftl::resolve_launch(options.launch, environment);
  } catch (const ftl::ConfigError& error) {
    return error.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("finetune: launch errors name the distributed flags as typed", "[cli][distributed]") {
  CHECK(flags_launch_error("finetune --world-size 3 --rank 3") ==
        "--rank 3 is not a rank of --world-size 3 (0 to 2)");
  CHECK(flags_launch_error("finetune --world-size 0") == "--world-size 0 must be at least 1");
  CHECK(flags_launch_error("finetune --world-size 2 --rank 0 --master-port 70000") ==
        "--master-port 70000 is not a TCP port (1 to 65535)");
  CHECK(flags_launch_error("finetune --world-size 2") ==
        "--world-size is 2 but this process has no rank: give --rank (or RANK, SLURM_PROCID)");
  CHECK(flags_launch_error("finetune", ftl::testing::environment_of(
                                           {{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}})) ==
        "WORLD_SIZE is 2 but this process has no rank: give --rank (or RANK, SLURM_PROCID)");
  CHECK(flags_launch_error("finetune", ftl::testing::environment_of(
                                           {{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}})) ==
        "MASTER_ADDR is not set: a distributed run needs the host of rank 0; under SLURM export "
        "MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1), or pass "
        "--master-addr");
}

TEST_CASE("finetune: a launch from the flags is the source \"flags\"", "[cli][distributed]") {
  CLI::App app("ftl");
  ftl::cli::FinetuneOptions options;
  ftl::cli::setup_finetune(app, options);
  app.parse("finetune --world-size 2 --rank 1", /*program_name_included=*/false);
  const ftl::Launch launch = ftl::resolve_launch(options.launch, ftl::testing::environment_of({}));
  CHECK(launch.source == "flags");
  CHECK(launch.world_size == 2);
  CHECK(launch.rank == 1);
  CHECK(launch.master_addr == "127.0.0.1");
}
