#pragma once
// A trace-replay scenario: recorded per-rank execution traces (MLCommons Chakra or PyTorch
// profiler/Kineto) replayed on a simulated cluster. Building it reads and checks every trace, so
// `hetsim validate` and `hetsim run` fail identically before anything runs.
//
//   replay:
//     format: chakra                  # chakra | kineto
//     traces: "../traces/all_reduce.{rank}.et"   # or a list of files, one per rank in rank order
//     ranks: 8                        # world size (default: the traces' own, else their count)
//     recorded_on: h100-sxm5-80gb     # device the traces were measured on (default: cluster.device)
//     dtype: bf16                     # GEMM dtype for what-if scaling of compute times
//     host_issue: false               # keep recorded host launch times as earliest starts
//     mirror: false                   # fewer files than ranks: rank r replays file r mod files
//     ctrl_deps: true                 # chakra: ctrl_deps order ops too (false: data_deps only)
//     unknown_deps: error             # error | drop (dependencies on ops a file does not hold)
//     iterations: 1
//   cluster: {device: h100-sxm5-80gb, node: hgx-h100}
//   output: {timeline: true}
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hw/cluster_topology.hpp"
#include "hw/device.hpp"
#include "sim/core/config.hpp"
#include "sim/scenario/cluster_nodes.hpp"
#include "workload/exec_trace/exec_trace.hpp"
#include "workload/exec_trace/trace_graph.hpp"

namespace hetsim::sim {

/// Ranks one replay may hold (each a SimGrid actor with its own stack).
inline constexpr int kMaxReplayRanks = 16384;
/// Ops over all distinct trace files (memory for the dependency graphs).
inline constexpr std::size_t kMaxReplayOps = 20'000'000;

struct ReplayScenario {
  std::string name;
  std::string file;
  std::string format;                            ///< "chakra" or "kineto"
  std::vector<exec_trace::RankTrace> traces;     ///< as read, one per given file
  std::vector<exec_trace::TraceGraph> graphs;    ///< per trace: its dependency graph, checked at load
  int world_size = 1;
  /// Per rank: the trace it replays (index into traces). With fewer files than ranks, rank r
  /// replays trace r mod files (mirror mode: the missing ranks run a copy of a recorded one).
  std::vector<int> trace_of_rank;
  bool mirrored = false;
  std::shared_ptr<const hw::Device> device;       ///< the cluster's device
  std::shared_ptr<const hw::Device> recorded_on;  ///< where the traces were measured
  DType dtype = DType::bf16;
  /// Recorded compute time x this, by op class (1 on the recorded hardware): see scale_rule().
  std::array<double, kNumOpClasses> time_scale{};
  ClusterNodes nodes;
  std::optional<hw::Fabric> fabric;
  bool host_issue = false;
  int iterations = 1;
  bool timeline = false;
  std::size_t dropped_deps = 0;
  YAML::Node resolved;

  std::string device_tier(int rank) const { return nodes.device_tier(rank); }
  /// One line: "8 x h100-sxm5-80gb (1 node hgx-h100), 8 chakra traces"
  std::string describe() const;
};

/// True if the document describes a trace replay (it has a `replay` section).
bool is_replay(const config::Document& doc);

/// Builds and validates the replay scenario in `doc` (overrides already applied).
ReplayScenario load_replay_scenario(const config::Document& doc);

/// The run's platform: its nodes and fabric.
hw::Cluster platform_of(const ReplayScenario& scenario);

}  // namespace hetsim::sim
