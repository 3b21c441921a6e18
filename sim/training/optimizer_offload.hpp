#pragma once
// Offloading a training job's optimizer, as policies (policies/training/offload/): where each
// device's optimizer shard (fp32 master weights and Adam's moments) lives off the device, and what
// one optimizer step then moves and computes. A policy only names the copies and updates, in
// phases; the training engine runs the copies as contended flows over the node's real links (the
// GPU's PCIe link, the PCIe switch uplink two GPUs share, the NVMe's link) and prices the updates
// on the host CPU or the GPU.
//
//   policies:
//     optimizer_offload: {impl: zero_offload, placement: dram_first, dram_limit: 512 GB}
//     # zero_offload | zero_infinity (states on NVMe) | deep_optimizer_states (gpu_fraction: 0.4)
//
// The host CPU's Adam is memory-bound: per parameter it reads the gradient and the states and
// writes the states and the updated weight. States in CXL expanders are read and written at their
// bandwidth, in parallel with the DRAM-resident part, so how they spread over DRAM and CXL (the
// placement) sets the step time.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/training/checkpoint.hpp"

namespace hetsim::training {

/// How the host-resident optimizer states spread over host DRAM and CXL memory expanders.
enum class HostPlacement {
  dram_first,       ///< DRAM up to its limit, the rest in CXL (capacity-aware tiering)
  interleave,       ///< pages round-robin over DRAM and every expander (numactl --interleave=all)
  bandwidth_aware,  ///< DRAM and CXL shares in proportion to their bandwidths (weighted interleave)
};
const char* to_string(HostPlacement placement);

/// One operation of an offloaded optimizer step, on one device's optimizer shard.
struct OffloadOp {
  enum class Kind { copy, cpu_update, gpu_update };
  Kind kind = Kind::copy;
  /// Copies: between the device's memory, the node's host DRAM and the device's nearest NVMe.
  CheckpointPlace from = CheckpointPlace::device, to = CheckpointPlace::host;
  /// Copies: what is moved per parameter of the shard.
  enum class Payload { gradients, weights, states } payload = Payload::gradients;
  /// The share of the shard this op covers (a CPU/GPU split of the update).
  double share = 1;
};
/// Ops that run one after another.
using OffloadLane = std::vector<OffloadOp>;
/// Lanes that run at once; the phase ends when its last lane does.
using OffloadPhase = std::vector<OffloadLane>;
/// One optimizer step: its phases, in order.
struct OffloadStep {
  std::vector<OffloadPhase> phases;
};

class OptimizerOffloadPolicy {
 public:
  static constexpr const char* kKind = "optimizer offload policy";
  virtual ~OptimizerOffloadPolicy() = default;
  /// Where the optimizer states live between steps: host (DRAM, and CXL under the placement) or nvme.
  virtual CheckpointPlace states_place() const = 0;
  /// The phases of one step.
  virtual OffloadStep step() const = 0;
  /// The share of the update the GPU computes (its states streamed in and out each step).
  virtual double gpu_fraction() const { return 0; }
  HostPlacement placement() const { return placement_; }
  /// Host DRAM the job may pin (bytes per node); none: the DRAM tier's capacity.
  std::optional<double> dram_limit() const { return dram_limit_; }
  /// The host CPU pricing the update: a hw/catalog device and its sockets.
  const std::string& cpu() const { return cpu_; }
  int sockets() const { return sockets_; }
  /// Where the weights' shard lives (ZeRO-Infinity's offload_param, ZeRO-3 only): on the device
  /// (no parameter offload), host or nvme; each pass then fetches it, and the updated weights stay.
  CheckpointPlace params() const { return params_; }

 protected:
  /// Reads placement, dram_limit, cpu and sockets.
  explicit OptimizerOffloadPolicy(const config::Node& cfg);

 private:
  HostPlacement placement_ = HostPlacement::dram_first;
  std::optional<double> dram_limit_;
  std::string cpu_;
  int sockets_ = 2;
  CheckpointPlace params_ = CheckpointPlace::device;
};

// ---------------------------------------------------------------------------------------------
// Pricing the host side (no SimGrid)

/// Bytes per parameter of what an offloaded step moves and keeps.
struct OffloadBytes {
  double gradient = 2;  ///< gradients as reduced on the device (training.grad_dtype)
  double weight = 2;    ///< weights as the passes use them
  double states = 12;   ///< fp32 master weights and Adam's two moments
  /// The fp32 gradient partition the CPU update reads, pinned in host DRAM beside the states
  /// (DeepSpeed keeps one next to the fp32 optimizer states).
  double host_gradient = 4;
};

/// Host memory the CPU update streams through.
struct HostMemory {
  double dram_bandwidth = 0;  ///< bytes/s of the DRAM tier
  double cxl_bandwidth = 0;   ///< bytes/s of all CXL expanders together (0: none)
  double cxl_tiers = 0;       ///< how many expanders (interleave spreads over each and DRAM)
};

/// The share of the states placed in CXL memory under `placement`, for `state_bytes` of states
/// when DRAM can take `dram_room` bytes of them. InputError when they do not fit in DRAM and
/// there is no CXL.
double cxl_share(HostPlacement placement, double state_bytes, double dram_room, const HostMemory& mem);

/// The host CPU as the update sees it: fp32 FLOP/s of all sockets and achieved fractions.
struct HostCpu {
  double fp32_flops = 0;
  double compute_efficiency = 1;
  double memory_efficiency = 1;
};

/// The name of an op of an offloaded step, for timelines: "gradients_to_host", "cpu_adam", ...
const char* to_string(const OffloadOp& op);

/// Seconds of a CPU Adam update of `parameters` (all devices of a node together) whose states
/// are `cxl_share` in CXL: ~12 FLOPs per parameter; per parameter 4 B of fp32 gradient read and
/// `weight_bytes` of updated weight written in DRAM (pinned buffers), and 2 x 12 B of states read
/// and written where they are. DRAM and CXL stream in parallel, each at its bandwidth times the
/// CPU's memory efficiency: time = max(compute, DRAM bytes / DRAM rate, CXL bytes / CXL rate).
double cpu_adam_seconds(double parameters, double weight_bytes, const HostCpu& cpu, const HostMemory& mem,
                        double cxl_share);

/// An optimizer offload as the scenario priced it, for the engine and the results.
struct OffloadSetup {
  std::unique_ptr<OptimizerOffloadPolicy> policy;
  std::string name;  ///< policies.optimizer_offload.impl
  OffloadStep step;
  OffloadBytes bytes;
  std::vector<double> shard_parameters;  ///< per pipeline rank: parameters of one device's optimizer shard
  std::vector<double> cpu_seconds;       ///< per node: the CPU update of every device's whole shard at once
  double cxl_share = 0;                  ///< of the host-resident states (the busiest node's)
  double host_bytes = 0;                 ///< the busiest node's host memory for offloaded state
  double host_dram = 0, host_cxl = 0;    ///< of which in DRAM and in CXL
  double host_capacity = 0;              ///< what its DRAM (or dram_limit) and CXL expanders offer
  double nvme_bytes = 0;                 ///< the busiest SSD's share of states (zero_infinity)
  double nvme_capacity = 0;
  /// Per pipeline rank: one device's memory had the states stayed on it.
  std::vector<RankMemory> without;
  /// Some rank fits in its device's memory only with the offload.
  bool needed = false;
};

}  // namespace hetsim::training
