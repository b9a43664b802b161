#include "ftl/dist/launch.h"

#include <cstdlib>
#include <limits>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

constexpr int kMaxPort = 65535;
// A single machine's rendezvous when only --world-size and --rank are given.
constexpr const char* kLoopback = "127.0.0.1";

// A value and where it came from, for error messages: "--rank" or "RANK".
struct Found {
  std::string text;
  std::string origin;
};

std::optional<Found> from_environment(const Environment& environment,
                                      std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (std::optional<std::string> value = environment(name)) return Found{*value, name};
  }
  return std::nullopt;
}

int parse_int(const Found& found) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(found.text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != found.text.size() || value < std::numeric_limits<int>::min() ||
      value > std::numeric_limits<int>::max()) {
    throw ConfigError(found.origin + " \"" + found.text + "\" is not an integer");
  }
  return static_cast<int>(value);
}

// The flag's value, else the first variable set, else nothing.
std::optional<std::pair<int, std::string>> lookup(const std::optional<int>& flag,
                                                  const char* flag_name,
                                                  const Environment& environment,
                                                  std::initializer_list<const char*> names) {
  if (flag) return std::make_pair(*flag, std::string(flag_name));
  if (std::optional<Found> found = from_environment(environment, names)) {
    return std::make_pair(parse_int(*found), found->origin);
  }
  return std::nullopt;
}

}  // namespace

Environment process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr || value[0] == '\0') return std::nullopt;
    return std::string(value);
  };
}

Launch resolve_launch(const LaunchFlags& flags, const Environment& environment) {
  Launch launch;
  const auto world =
      lookup(flags.world_size, "--world-size", environment, {"WORLD_SIZE", "SLURM_NTASKS"});
  if (!world) return launch;
  if (world->first < 1) {
    throw ConfigError(world->second + " " + std::to_string(world->first) + " must be at least 1");
  }
  launch.world_size = world->first;
  launch.source = world->second == "--world-size" ? "flags"
                  : world->second == "WORLD_SIZE" ? "torchrun"
                                                  : "SLURM";
  if (!launch.distributed()) {
    launch.source = "single process";
    return launch;
  }
  const auto rank = lookup(flags.rank, "--rank", environment, {"RANK", "SLURM_PROCID"});
  if (!rank) {
    throw ConfigError(world->second + " is " + std::to_string(launch.world_size) +
                      " but this process has no rank: give --rank (or RANK, SLURM_PROCID)");
  }
  if (rank->first < 0 || rank->first >= launch.world_size) {
    throw ConfigError(rank->second + " " + std::to_string(rank->first) + " is not a rank of " +
                      world->second + " " + std::to_string(launch.world_size) + " (0 to " +
                      std::to_string(launch.world_size - 1) + ")");
  }
  launch.rank = rank->first;
  const auto local =
      lookup(flags.local_rank, "--local-rank", environment, {"LOCAL_RANK", "SLURM_LOCALID"});
  if (local && local->first < 0) {
    throw ConfigError(local->second + " " + std::to_string(local->first) + " must be at least 0");
  }
  launch.local_rank = local ? local->first : 0;

  if (!flags.master_addr.empty()) {
    launch.master_addr = flags.master_addr;
  } else if (std::optional<std::string> addr = environment("MASTER_ADDR")) {
    launch.master_addr = *addr;
  } else if (launch.source == "flags") {
    launch.master_addr = kLoopback;
  } else {
    throw ConfigError(
        "MASTER_ADDR is not set: a distributed run needs the host of rank 0; under SLURM "
        "export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1), "
        "or pass --master-addr");
  }
  const auto port = lookup(flags.master_port, "--master-port", environment, {"MASTER_PORT"});
  launch.master_port = port ? port->first : kDefaultMasterPort;
  if (launch.master_port < 1 || launch.master_port > kMaxPort) {
    throw ConfigError((port ? port->second : std::string("the master port")) + " " +
                      std::to_string(launch.master_port) + " is not a TCP port (1 to 65535)");
  }
  launch.gloo_interface = environment("GLOO_SOCKET_IFNAME").value_or("");
  // torchrun's elastic agent serves the store itself (torch.distributed.elastic).
  if (launch.source == "torchrun" && environment("TORCHELASTIC_USE_AGENT_STORE") == "True") {
    launch.agent_store = true;
    launch.store_prefix =
        "/worker/attempt_" + environment("TORCHELASTIC_RESTART_COUNT").value_or("0");
  }
  return launch;
}

}  // namespace ftl
