#pragma once
// A scenario fully built from YAML: model, replicas with their devices and policies, the requests,
// SLOs and output options. Building it performs every validation (so `hetsim validate` and
// `hetsim run` fail identically, before anything runs).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hw/cluster_topology.hpp"
#include "hw/cost_model.hpp"
#include "hw/device.hpp"
#include "hw/serving_stack.hpp"
#include "hw/node.hpp"
#include "hw/placement.hpp"
#include "models/model.hpp"
#include "sim/serving/controller.hpp"
#include "sim/serving/kv_manager.hpp"
#include "sim/serving/over_length.hpp"
#include "sim/serving/preemption.hpp"
#include "sim/serving/router.hpp"
#include "sim/serving/scheduler.hpp"
#include "sim/serving/expert_offload.hpp"
#include "sim/serving/op_offload.hpp"
#include "sim/serving/speculation.hpp"
#include "sim/core/config.hpp"
#include "sim/core/parallel_plan.hpp"
#include "sim/core/request.hpp"
#include "sim/metrics/run_info.hpp"
#include "workload/arrivals.hpp"
#include "workload/workload_source.hpp"
#include "workload/workload_totals.hpp"

namespace hetsim::sim {

/// One serving replica: a tensor-parallel group of identical devices with its own policies.
struct ReplicaPlan {
  std::string pool;  ///< the pool it belongs to ("h100-sxm5-80gb", or the pool's name)
  std::shared_ptr<const hw::Device> device;
  serving::InstanceRole role = serving::InstanceRole::both;
  ParallelPlan parallel;             ///< how the replica splits the model (serving: tp)
  hw::OperandPlacement placement;    ///< where operands live on the device (serving.weights: storage)
  std::shared_ptr<const hw::ServingStack> stack;  ///< the serving engine simulated (serving.stack)
  std::unique_ptr<policies::Scheduler> scheduler;
  std::unique_ptr<policies::KvManager> kv;
  std::unique_ptr<policies::Preemption> preemption;
  double kv_bytes_per_token = 0;  ///< KV bytes per token on one device of the replica
  /// Where the replica sits, for policies that move bytes: an index into Scenario::nodes (-1 =
  /// no node: nothing is moved) and its devices' memory tiers (one per TP rank), platform-wide names.
  int node = -1;
  std::vector<std::string> device_tiers;
  /// Op offload with `link: platform`: the node's host DRAM tier (platform-wide name) that each
  /// step's offload traffic flows to and from; empty: the link is priced analytically.
  std::string offload_tier;
  /// semi-PD (pool key semi_pd): the share of its devices' SMs this instance runs on, and the
  /// other partition on the same devices (its prefill or decode worker; -1 = none).
  double device_share = 1;
  int partner = -1;
  /// Speculative decoding (policies.speculative); null: off.
  std::shared_ptr<const serving::Speculation> speculation;
  /// An instance spanning nodes: devices per node (0: one node) and the NIC level its collectives cross.
  int span_devices_per_node = 0;
  hw::LinkLevel scale_out;
  /// Routed experts in host memory with a GPU cache (serving.expert_offload); null: all on the GPU.
  std::shared_ptr<const serving::ExpertOffload> expert_offload;
  /// Two-batch overlap of the expert all-to-alls with compute (pool key two_batch_overlap).
  bool two_batch_overlap = false;
  /// Expert all-to-alls as DeepEP runs them (pool key moe_dispatcher: deepep).
  bool deepep = false;
  /// Op offload (pool key offload): attention and the KV cache on offload devices; null: none.
  std::shared_ptr<const serving::OffloadPlan> offload;
};

/// One node instance; the engine builds one network of all instances and the cluster fabric
/// (platform_of), and the replicas placed on a node share its links.
struct NodeInstance {
  std::shared_ptr<const hw::NodeSpec> spec;
  std::string prefix;  ///< unique name prefix for its SimGrid hosts and links, e.g. "pool0.node1/"
};

/// A KV store node of the cluster (cluster.kv_stores): a node without devices whose memory keeps
/// KV blocks for every replica that names it as an offload tier.
struct KvStoreNode {
  std::string name;
  int node = -1;  ///< index into Scenario::nodes
  std::shared_ptr<serving::KvBlockStore> store;  ///< created when the first replica binds to it
};

/// The most replicas a run can have, in all pools. Each replica is a SimGrid actor whose stack has a
/// guard page, which splits its memory map in two; Linux allows a process 65,530 maps
/// (vm.max_map_count), so runs abort ("Failed to protect stack") near 32,650 replicas. The margin
/// is for the actors that come and go (KV moves, timers) and the process's other maps.
inline constexpr int kMaxReplicas = 30000;

struct Scenario {
  std::string name;
  std::string file;
  std::uint64_t seed = 0;
  models::ModelSpec model;
  std::int64_t max_model_len = 0;
  serving::OverLength over_length;  ///< serving.over_length: what happens to requests longer than max_model_len
  std::vector<ReplicaPlan> replicas;
  std::vector<NodeInstance> nodes;
  std::vector<KvStoreNode> kv_stores;  ///< cluster.kv_stores
  std::optional<hw::Fabric> fabric;  ///< cluster.fabric: joins the nodes' NICs
  std::unique_ptr<policies::Router> router;
  /// policies.router.refresh: seconds between the snapshots of replica state the router reads
  /// (0: it reads every replica as it is when the request arrives).
  double router_refresh = 0;
  std::vector<std::unique_ptr<policies::Controller>> controllers;  ///< global policies, in listed order
  /// The request pool's source, kept for the run: its requests are read as they are issued, never
  /// held whole (ids 0..n-1).
  std::shared_ptr<const workload::WorkloadSource> workload;
  workload::WorkloadTotals totals;  ///< the pool's size and token counts, read once at load
  std::unique_ptr<workload::Arrivals> arrivals;  ///< when each pool entry is issued (open or closed loop), over a stream of the pool
  Slo slo;
  OutputOptions output;
  YAML::Node resolved;  ///< effective configuration, written as resolved.yaml
};

/// "2 x h100-sxm5-80gb TP1 + 4 x a100-sxm4-80gb TP1", pools in order of first appearance.
std::string describe_fleet(const Scenario& scenario);

/// The run's platform: its node instances (in order, with their NICs) and `cluster.fabric`.
hw::Cluster platform_of(const Scenario& scenario);

/// `root.model`: a models/catalog name, {preset: NAME, ...overrides}, or an inline model; with
/// the model's (layered) config node, for messages about its keys.
struct LoadedModel {
  models::ModelSpec spec;
  config::Node node;
};
LoadedModel load_model(const config::Node& root);
/// The scenario's `name` (default: the file's stem, made safe), checked to be a safe folder name
/// (it names the output folder out/<name>).
std::string scenario_name(const config::Node& root, const std::string& file);
/// What every scenario starts with: its name, file and seed, and its model.
struct ScenarioHead {
  std::string name, file;
  std::uint64_t seed = 1;
  LoadedModel model;
};
ScenarioHead load_head(const config::Document& doc);
/// `parent.device`: a hw/catalog name, {preset: NAME, ...overrides}, or an inline device.
std::shared_ptr<const hw::Device> load_device(const config::Node& parent);
/// The scale-out level collectives spanning nodes use: the node's first NIC, with the fabric's
/// latency on the way up and down (no bandwidth if the node has no NIC).
hw::LinkLevel scale_out_of(const hw::NodeSpec& node, const std::optional<hw::Fabric>& fabric, const hw::Device& d);
/// `parent.node`: a hw/nodes preset name, {preset: NAME, ...overrides}, or an inline node;
/// `needs_devices`: an InputError unless it has device slots (tiers of kind hbm).
std::shared_ptr<const hw::NodeSpec> load_node(const config::Node& parent, bool needs_devices = true);
/// InputError naming `model`'s precision key unless device `d` has a peak for each dtype the
/// model computes in (GEMMs in precision.gemm; elementwise, attention, LM head in activations).
void check_precision_peaks(const models::ModelSpec& m, const hw::Device& d, const config::Node& model);

/// Builds and validates the scenario in `doc` (overrides already applied).
Scenario load_scenario(const config::Document& doc);

}  // namespace hetsim::sim
