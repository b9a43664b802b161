// What a process group this build cannot start says, before it connects to anyone.
#include "ftl/distributed/communicator.h"

#include <catch2/catch.hpp>

#include "ftl/distributed/launch.h"
#include "ftl/util/errors.h"
#include "support/free_port.h"

using Catch::Matchers::Contains;
using ftl::testing::free_port;

TEST_CASE("communicator: what this build cannot serve is a config error", "[distributed]") {
  ftl::Launch launch;
  launch.world_size = 2;
  launch.master_addr = "127.0.0.1";
  launch.master_port = free_port();
  if (!ftl::distributed_available()) {
    CHECK_THROWS_WITH(ftl::Communicator(launch, ftl::DistBackend::kGloo, 1, torch::kCPU),
                      Contains("asks for 2 processes, but this ftl was built without distributed "
                               "training (FTL_DISTRIBUTED is OFF"));
    return;
  }
  CHECK_THROWS_AS(ftl::Communicator(launch, ftl::DistBackend::kNccl, 1, torch::kCPU),
                  ftl::ConfigError);
  CHECK_THROWS_WITH(ftl::Communicator(launch, ftl::DistBackend::kNccl, 1, torch::kCPU),
                    Contains("dist.backend \"nccl\" needs train.device \"cuda\""));
}
