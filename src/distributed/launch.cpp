#include "ftl/distributed/launch.h"

#include <cstdlib>
#include <limits>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

constexpr int kMaxPort = 65535;
// A single machine's rendezvous when only the world size and the rank are given as flags.
constexpr const char* kLoopback = "127.0.0.1";

// A variable's text and its name, for error messages: "RANK".
struct Found {
  std::string text;
  std::string origin;
};

// A value and where it came from: its flag's name (LaunchNames) or its variable's.
struct Resolved {
  int value = 0;
  std::string origin;
  bool from_flag = false;  // given by the caller rather than read from the environment
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
std::optional<Resolved> lookup(const std::optional<int>& flag, const std::string& flag_name,
                               const Environment& environment,
                               std::initializer_list<const char*> names) {
  if (flag) return Resolved{*flag, flag_name, /*from_flag=*/true};
  if (std::optional<Found> found = from_environment(environment, names)) {
    return Resolved{parse_int(*found), found->origin, /*from_flag=*/false};
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
  const LaunchNames& names = flags.names;
  const auto world =
      lookup(flags.world_size, names.world_size, environment, {"WORLD_SIZE", "SLURM_NTASKS"});
  if (!world) return launch;
  if (world->value < 1) {
    throw ConfigError(world->origin + " " + std::to_string(world->value) + " must be at least 1");
  }
  launch.world_size = world->value;
  launch.source = world->from_flag ? "flags" : world->origin == "WORLD_SIZE" ? "torchrun" : "SLURM";
  if (!launch.distributed()) {
    launch.source = "single process";
    return launch;
  }
  const auto rank = lookup(flags.rank, names.rank, environment, {"RANK", "SLURM_PROCID"});
  if (!rank) {
    throw ConfigError(world->origin + " is " + std::to_string(launch.world_size) +
                      " but this process has no rank: give " + names.rank +
                      " (or RANK, SLURM_PROCID)");
  }
  if (rank->value < 0 || rank->value >= launch.world_size) {
    throw ConfigError(rank->origin + " " + std::to_string(rank->value) + " is not a rank of " +
                      world->origin + " " + std::to_string(launch.world_size) + " (0 to " +
                      std::to_string(launch.world_size - 1) + ")");
  }
  launch.rank = rank->value;
  const auto local =
      lookup(flags.local_rank, names.local_rank, environment, {"LOCAL_RANK", "SLURM_LOCALID"});
  if (local && local->value < 0) {
    throw ConfigError(local->origin + " " + std::to_string(local->value) + " must be at least 0");
  }
  launch.local_rank = local ? local->value : 0;

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
        "or pass " +
        names.master_addr);
  }
  const auto port = lookup(flags.master_port, names.master_port, environment, {"MASTER_PORT"});
  launch.master_port = port ? port->value : kDefaultMasterPort;
  if (launch.master_port < 1 || launch.master_port > kMaxPort) {
    throw ConfigError((port ? port->origin : std::string("the master port")) + " " +
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
