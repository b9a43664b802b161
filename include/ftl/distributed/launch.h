// Who this process is in a data-parallel run: its rank among world_size processes and where
// the rendezvous store listens. Read from command-line flags, from torchrun's environment
// (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or from SLURM's (SLURM_PROCID,
// SLURM_NTASKS, SLURM_LOCALID), in that order of precedence.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace ftl {

/// The port torchrun and torch.distributed use when none is given.
inline constexpr int kDefaultMasterPort = 29500;

/// What messages call each value given by the caller: the CLI fills in its flags' names, so
/// that an error names what the user typed. The defaults are the core's own words.
struct LaunchNames {
  std::string rank = "rank";
  std::string world_size = "world size";
  std::string local_rank = "local rank";
  std::string master_port = "master port";
  std::string master_addr = "master address";
};

/// Values given by the caller (the CLI: flags); each one left unset comes from the environment.
struct LaunchFlags {
  std::optional<int> rank;
  std::optional<int> world_size;
  std::optional<int> local_rank;
  std::optional<int> master_port;
  std::string master_addr;
  LaunchNames names;  // how the messages name the values above, given or not
};

struct Launch {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;       // rank among the processes of this machine: picks cuda:N
  std::string master_addr;  // host of the rendezvous store
  int master_port = kDefaultMasterPort;
  std::string source = "single process";  // "flags", "torchrun" or "SLURM" when distributed
  // Under torchrun the elastic agent already serves the store: every rank connects to it as a
  // client, under the prefix of the agent's restart attempt.
  bool agent_store = false;
  std::string store_prefix;
  std::string gloo_interface;  // GLOO_SOCKET_IFNAME: the network interface Gloo binds to

  bool distributed() const { return world_size > 1; }
};

/// Looks up an environment variable; std::nullopt when it is unset or empty.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;

/// The process's own environment.
Environment process_environment();

/// Flags first, then torchrun's variables, then SLURM's. A world size of 1 is a plain
/// single-process run. Throws ConfigError naming the flag (by flags.names) or variable that is
/// malformed or out of range, or the one missing (MASTER_ADDR for a distributed run).
Launch resolve_launch(const LaunchFlags& flags, const Environment& environment);

}  // namespace ftl
