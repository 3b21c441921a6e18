#pragma once
// Checkpointing a training job, as policies (policies/training/checkpoint/): where each device's
// shard of the checkpoint goes, in which copies, and which of them training waits for. A policy
// only names places and order; the training engine turns each copy into contended flows over the
// platform (PCIe to host memory, a PCIe switch to the node's NVMe, NICs to a peer node), so a
// checkpoint's writes share links with training traffic and with each other.
//
//   policies:
//     checkpoint: {impl: async, target: nvme, every: auto}   # sync | async | in_memory | multi_level
#include <string>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/parallel_plan.hpp"
#include "sim/training/training_memory.hpp"

namespace hetsim::training {

/// A place a checkpoint shard can be, relative to the device that holds the state.
enum class CheckpointPlace {
  device,     ///< the device's own memory (where the state lives)
  host,       ///< the node's host DRAM (first DRAM tier)
  nvme,       ///< the node-local SSD nearest the device (fewest hops, then fastest)
  peer_host,  ///< the host DRAM of the next node (node n+1 mod nodes), over the NICs and fabric
  storage,    ///< a storage server of cluster.storage (rank r writes to server r mod count), over the fabric
};
/// Whether the place is on another node than the device's (reached over NICs and the fabric).
inline bool off_node(CheckpointPlace p) { return p == CheckpointPlace::peer_host || p == CheckpointPlace::storage; }
const char* to_string(CheckpointPlace place);

/// One copy of every device's shard; copies run in order, each starting when the previous ends.
struct CheckpointCopy {
  CheckpointPlace from = CheckpointPlace::device;
  CheckpointPlace to = CheckpointPlace::host;
  /// Training waits for it (the stall); else it runs in the background under later iterations.
  bool blocking = true;
  /// A background copy the next optimizer step waits for: the weights and states it reads stay
  /// unchanged through the next iteration's passes, so the copy may run under them (DataStates-LLM's
  /// lazy snapshot); only an update that would overwrite them first must wait.
  bool lazy = false;
};

class CheckpointPolicy {
 public:
  static constexpr const char* kKind = "checkpoint policy";
  virtual ~CheckpointPolicy() = default;
  /// The copies of one checkpoint, in order; blocking copies come first.
  virtual std::vector<CheckpointCopy> copies() const = 0;
  /// Where a restart reads the checkpoint back from (its last copy's destination).
  CheckpointPlace restore_from() const { return copies().back().to; }
  /// Iterations between checkpoints for the failure projection; 0 = auto (Young's interval).
  int every() const { return every_; }

 protected:
  /// Reads `every` (iterations, or auto) from the policy's configuration.
  explicit CheckpointPolicy(const config::Node& cfg);
  /// Reads `target` (host | nvme | storage), where the checkpoint ends up: `fallback` when absent.
  static CheckpointPlace read_target(const config::Node& cfg, const char* fallback);

 private:
  int every_ = 0;
};

/// Bytes of the checkpoint one device writes: its weights and optimizer states (master weights and
/// moments), with state that data-parallel ranks replicate written once and spread evenly over
/// them (Megatron-Core's distributed checkpoint with fully parallel save; PyTorch DCP's
/// deduplication). Gradients and activations are not saved.
double checkpoint_bytes(const RankMemory& mem, const ParallelPlan& plan);

/// checkpoint_bytes by where each part lives: on the device, or, under an optimizer offload, the
/// states (and with a parameter offload the weights) in host memory or on NVMe, where a save reads
/// them from and a restore writes them back to.
struct CheckpointShard {
  double device = 0, host = 0, nvme = 0;
  double total() const { return device + host + nvme; }
};
/// The shard of `mem`, its offloaded states at `states_home` and offloaded weights at
/// `weights_home` (host or nvme; device when nothing is offloaded).
CheckpointShard checkpoint_shard(const RankMemory& mem, const ParallelPlan& plan, CheckpointPlace states_home,
                                 CheckpointPlace weights_home);

}  // namespace hetsim::training
