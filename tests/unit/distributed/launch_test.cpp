// How a process learns its rank: torchrun's and SLURM's variables, the flags, and the errors
// that name the flag or variable at fault.
#include "ftl/distributed/launch.h"

#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>

#include "ftl/util/errors.h"
#include "support/environment.h"

using Catch::Matchers::Contains;

namespace {

std::string launch_error(const ftl::LaunchFlags& flags,
                         const std::map<std::string, std::string>& variables) {
  try {
    ftl::resolve_launch(flags, ftl::testing::environment_of(variables));
  } catch (const ftl::ConfigError& error) {
    return error.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("launch: no launcher is a single process", "[distributed]") {
  const ftl::Launch launch = ftl::resolve_launch({}, ftl::testing::environment_of({}));
  CHECK_FALSE(launch.distributed());
  CHECK(launch.rank == 0);
  CHECK(launch.source == "single process");
  // A one-task SLURM job is not distributed either, and needs no MASTER_ADDR.
  const ftl::Launch slurm = ftl::resolve_launch(
      {}, ftl::testing::environment_of({{"SLURM_NTASKS", "1"}, {"SLURM_PROCID", "0"}}));
  CHECK_FALSE(slurm.distributed());
}

TEST_CASE("launch: torchrun's variables and its agent store", "[distributed]") {
  const ftl::Launch launch = ftl::resolve_launch(
      {}, ftl::testing::environment_of({{"RANK", "3"},
                                        {"WORLD_SIZE", "4"},
                                        {"LOCAL_RANK", "1"},
                                        {"MASTER_ADDR", "node7"},
                                        {"MASTER_PORT", "29555"},
                                        {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                        {"TORCHELASTIC_RESTART_COUNT", "2"},
                                        // torchrun's variables win over SLURM's when both are set
                                        {"SLURM_PROCID", "0"},
                                        {"SLURM_NTASKS", "8"}}));
  CHECK(launch.distributed());
  CHECK(launch.rank == 3);
  CHECK(launch.world_size == 4);
  CHECK(launch.local_rank == 1);
  CHECK(launch.master_addr == "node7");
  CHECK(launch.master_port == 29555);
  CHECK(launch.source == "torchrun");
  CHECK(launch.agent_store);
  CHECK(launch.store_prefix == "/worker/attempt_2");
}

TEST_CASE("launch: SLURM's variables need MASTER_ADDR or --master-addr", "[distributed]") {
  const std::map<std::string, std::string> slurm = {
      {"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"}};
  CHECK_THAT(launch_error({}, slurm), Contains("MASTER_ADDR is not set") &&
                                          Contains("scontrol show hostnames") &&
                                          Contains("or pass master address"));
  ftl::LaunchFlags flags;
  flags.master_addr = "head-node";
  const ftl::Launch launch = ftl::resolve_launch(flags, ftl::testing::environment_of(slurm));
  CHECK(launch.rank == 5);
  CHECK(launch.world_size == 8);
  CHECK(launch.local_rank == 1);
  CHECK(launch.master_addr == "head-node");
  CHECK(launch.master_port == ftl::kDefaultMasterPort);
  CHECK(launch.source == "SLURM");
  CHECK_FALSE(launch.agent_store);
}

TEST_CASE("launch: flags win over the environment and default to loopback", "[distributed]") {
  ftl::LaunchFlags flags;
  flags.rank = 1;
  flags.world_size = 2;
  flags.master_port = 31000;
  const ftl::Launch launch =
      ftl::resolve_launch(flags, ftl::testing::environment_of({{"SLURM_PROCID", "0"}}));
  CHECK(launch.rank == 1);
  CHECK(launch.world_size == 2);
  CHECK(launch.master_addr == "127.0.0.1");
  CHECK(launch.master_port == 31000);
  CHECK(launch.source == "flags");
}

TEST_CASE("launch: malformed or missing values name their flag or variable", "[distributed]") {
  const std::map<std::string, std::string> base = {{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}};
  auto with = [&base](const std::string& name, const std::string& value) {
    std::map<std::string, std::string> variables = base;
    variables[name] = value;
    return variables;
  };
  CHECK(launch_error({}, with("RANK", "one")) == "RANK \"one\" is not an integer");
  CHECK(launch_error({}, with("RANK", "2")) == "RANK 2 is not a rank of WORLD_SIZE 2 (0 to 1)");
  CHECK_THAT(launch_error({}, base),
             Contains("this process has no rank") && Contains("give rank (or RANK, SLURM_PROCID)"));
  CHECK(launch_error({}, with("WORLD_SIZE", "0")) == "WORLD_SIZE 0 must be at least 1");
  std::map<std::string, std::string> port = with("RANK", "0");
  port["MASTER_PORT"] = "70000";
  CHECK(launch_error({}, port) == "MASTER_PORT 70000 is not a TCP port (1 to 65535)");
  ftl::LaunchFlags flags;
  flags.world_size = 3;
  flags.rank = 3;
  CHECK(launch_error(flags, {}) == "rank 3 is not a rank of world size 3 (0 to 2)");
}
