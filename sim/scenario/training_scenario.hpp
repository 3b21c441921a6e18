#pragma once
// A training scenario fully built from YAML: the model, the cluster (one device type on nodes of
// one type joined by a fabric), the job (batch, parallel plan, ZeRO, recompute, overlap), the
// pipeline schedule policy, and each model stage priced by the cost model. Building it performs
// every validation, so `hetsim validate` and `hetsim run` fail identically before anything runs.
//
//   model: llama-3-70b
//   cluster: {device: h100-sxm5-80gb, node: hgx-h100, fabric: {kind: rail, uplink_bandwidth: 25.6 Tbps}}
//   # (without `node`: one node of the device, at most 8 GPUs; cluster.nic_bandwidth overrides the NICs)
//   training:
//     seq_len: 8192
//     global_batch: 128            # sequences per iteration
//     micro_batch: 1
//     parallel: {tp: 4, pp: 4, dp: 4, sp: true}
//     zero: 1                      # 0-3 (3 = FSDP)
//     recompute: selective         # none | selective | full
//     iterations: 3
//     simulate_replicas: auto      # all | one | auto (one beyond 4,096 GPUs): identical DP replicas simulated once
//     train_tokens: 15e12          # the run whose time to train (and, with failures, goodput) is projected
//     recovery: {detection: 10 min, restart: 10 min, spare_nodes: unlimited, repair: 24 h, trials: 20}
//   policies:
//     pipeline_schedule: {impl: interleaved_1f1b, virtual_stages: 2}
//     checkpoint: {impl: async, target: nvme, every: auto}   # saved at the end of the first iteration
//     failures: {impl: exponential, rates: llama3-405b}      # needs checkpoint and train_tokens
//     optimizer_offload: {impl: zero_offload, placement: dram_first}   # states in host memory, CPU Adam
//     activation_offload: {impl: memo, fraction: auto}   # activations swapped to host under the passes
//     placement: {impl: nic_aware}   # in_order | round_robin | nic_aware: logical nodes onto physical ones
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hw/cluster_topology.hpp"
#include "hw/cost_model.hpp"
#include "hw/device.hpp"
#include "hw/node.hpp"
#include "models/model.hpp"
#include "sim/core/config.hpp"
#include "sim/scenario/cluster_nodes.hpp"
#include "sim/training/activation_offload.hpp"
#include "sim/training/checkpoint.hpp"
#include "sim/training/failure_process.hpp"
#include "sim/training/optimizer_offload.hpp"
#include "sim/training/pipeline_schedule.hpp"
#include "sim/training/resilience.hpp"
#include "sim/training/sequence_sharding.hpp"
#include "sim/training/stage_costs.hpp"
#include "sim/training/training_memory.hpp"
#include "sim/training/training_job.hpp"
#include "workload/length_distribution.hpp"

namespace hetsim::sim {

/// Limits of one training run: rank groups (each a SimGrid actor with its own stack), GPUs (the
/// platform's nodes), passes of one replica's pipeline per iteration (its explicit order) and of
/// all replicas (each holds a slot per micro-batch chunk).
inline constexpr long kMaxRankGroups = 30000;
inline constexpr long kMaxTrainingGpus = 1L << 18;
inline constexpr double kMaxPipelinePasses = 1e6;
/// Passes of all replicas per iteration (the 16,384-GPU benchmark runs 66 thousand).
inline constexpr double kMaxIterationPasses = 1e7;
/// GPUs a job may put on the default node (one node of the device without NICs), as a real server holds.
inline constexpr int kMaxDefaultNodeGpus = 8;
/// training.simulate_replicas: auto simulates every replica up to this many GPUs, one beyond.
inline constexpr long kFullSimulationGpus = 4096;

struct TrainingScenario {
  std::string name;
  std::string file;
  std::uint64_t seed = 0;
  models::ModelSpec model;
  std::shared_ptr<const hw::Device> device;
  std::shared_ptr<const hw::NodeSpec> node;  ///< every node of the cluster is one of these (but its NICs, by group)
  int nodes = 1;
  /// The nodes with their groups (cluster.node_groups) and the placement's order (policies.placement).
  ClusterNodes cluster_nodes;
  std::string placement_name;  ///< policies.placement.impl
  std::optional<hw::Fabric> fabric;
  training::TrainingJob job;
  std::string schedule_name;  ///< policies.pipeline_schedule.impl
  std::unique_ptr<training::PipelineSchedule> schedule;
  std::vector<training::StageCost> stages;  ///< per model stage, priced at load
  /// Per pipeline rank: one device's memory at its peak (the schedule's most micro-batches held).
  std::vector<training::RankMemory> memory;
  double device_memory = 0;  ///< what one device offers (driver-reported total, else the datasheet's)
  bool timeline = false;                    ///< output.timeline: write timeline.json
  /// training.simulate_replicas resolved: simulate data-parallel replica 0 only, its identical
  /// peers' pipeline sends and every collective still loading the network as flows.
  bool one_replica = false;
  YAML::Node resolved;

  /// policies.checkpoint, if given: saved once, at the end of the first iteration.
  std::unique_ptr<training::CheckpointPolicy> checkpoint;
  std::string checkpoint_name;
  std::vector<double> checkpoint_bytes;  ///< per pipeline rank: one device's shard
  /// The same by where each part lives (offloaded states and weights in host memory or on NVMe).
  std::vector<training::CheckpointShard> checkpoint_shards;
  std::vector<std::string> nearest_ssd;  ///< per device slot of the node: its nearest SSD tier (target nvme)
  /// cluster.storage: `storage_count` servers of this type on the fabric ("storage0/", ...), written
  /// to in their tier `storage_tier` (target storage).
  std::shared_ptr<const hw::NodeSpec> storage_node;
  int storage_count = 0;
  std::string storage_tier;
  /// training.documents.lengths, if given: documents of these lengths packed into each sequence,
  /// attention masked per document (each pass's attention core scaled by its micro-batch's share).
  std::optional<workload::LengthDistribution> documents;
  /// policies.sequence_sharding when it regroups the dp x cp ranks per batch (hybrid_dp): `job` is
  /// then the pool's (dp x cp ranks of cp 1); this keeps the plan as given and the placements.
  std::unique_ptr<training::ShardedDocuments> sharding;
  /// policies.optimizer_offload, if given: the optimizer states live off the devices.
  std::unique_ptr<training::OffloadSetup> offload;
  /// policies.activation_offload, if given: activations swapped to host memory under the passes.
  std::unique_ptr<training::ActivationSwapSetup> swap;
  /// policies.failures, if given: the failure projection over training.train_tokens.
  std::unique_ptr<training::FailureProcess> failures;
  std::string failures_name;
  training::RecoveryCosts recovery;  ///< reload is left 0 here: the engine measures it
  int resilience_trials = 20;

  /// Device types beyond cluster.device (cluster.node_groups[].device), each with the model stages
  /// priced on it and the memory it offers. Type 0 is cluster.device (`device`, `stages`,
  /// `device_memory`), type i + 1 is other_devices[i].
  struct OtherDevice {
    std::shared_ptr<const hw::Device> device;
    std::vector<training::StageCost> stages;
    double memory = 0;
  };
  std::vector<OtherDevice> other_devices;
  int device_type(int rank) const;
  const hw::Device& device_of_type(int type) const { return type == 0 ? *device : *other_devices[static_cast<std::size_t>(type - 1)].device; }
  const std::vector<training::StageCost>& stages_of(int type) const {
    return type == 0 ? stages : other_devices[static_cast<std::size_t>(type - 1)].stages;
  }
  double memory_of_type(int type) const { return type == 0 ? device_memory : other_devices[static_cast<std::size_t>(type - 1)].memory; }

  int gpus() const { return job.plan.devices(); }
  int slots_per_node() const { return static_cast<int>(node->device_slots.size()); }
  /// Global rank of a device in Megatron's order (tensor innermost, then context, data, pipeline).
  int rank(int dp, int pp, int cp, int tp) const {
    const ParallelPlan& p = job.plan;
    return tp + p.tp * (cp + p.cp * (dp + p.dp * pp));
  }
  /// The platform tier (device memory) that global rank `rank` lives in: "node3/gpu5.hbm".
  std::string device_tier(int rank) const;
  /// The platform tiers a checkpoint copy of global rank `rank`'s shard moves between ("node3/gpu5.hbm",
  /// "node3/nvme2"). A copy between host memory and another node is routed from (or to) the rank's
  /// device instead: node NICs attach to device memory (GPUDirect RDMA, as in hgx-h100.yaml), so it
  /// takes the rank's own NIC; the PCIe hop between host memory and that NIC is not modelled. Likewise
  /// a peer node's host memory stands as the device of the same slot there.
  std::pair<std::string, std::string> checkpoint_route(int rank, training::CheckpointPlace from,
                                                       training::CheckpointPlace to) const;
  /// "128 x h100-sxm5-80gb (16 nodes hgx-h100) TP8 PP8 DP16"
  std::string describe() const;
};

/// A plan whose memory exceeds a device's: a valid question whose answer is "it does not fit"
/// (a run refuses it, exit 2; a sweep records the point as infeasible).
class PlanDoesNotFit : public InputError {
 public:
  using InputError::InputError;
};

/// True if the document describes a training job (it has a `training` section).
bool is_training(const config::Document& doc);

/// Builds and validates the training scenario in `doc` (overrides already applied).
TrainingScenario load_training_scenario(const config::Document& doc);

/// The run's platform: `nodes` instances of the node ("node0/", "node1/", ...) and the fabric.
hw::Cluster platform_of(const TrainingScenario& scenario);

}  // namespace hetsim::sim
