#pragma once
// Runs a set of concurrent transfers on a node or cluster topology and reports each one's time
// next to its idle (analytic) time, so users can see routes, bottlenecks and contention before
// putting a topology in a scenario (`hetsim transfer`).
#include <string>
#include <vector>

#include "hw/cluster_topology.hpp"
#include "hw/topology.hpp"

namespace hetsim::sim {

struct Flow {
  std::string from, to;
  double bytes = 0;
  double request_size = 1 << 20;  ///< block devices are accessed in requests of this size
};

struct FlowResult {
  double seconds = 0;       ///< simulated, with every other flow running at the same time
  double idle_seconds = 0;  ///< analytic, alone on the topology
  std::vector<std::string> route;  ///< link names, in order
};

/// All flows start at time 0 in a fresh SimGrid engine (one per process), on the platform of
/// `cluster` (its nodes and fabric; one node without a prefix for a node file).
std::vector<FlowResult> run_flows(const hw::Cluster& cluster, const std::vector<Flow>& flows);
/// One node.
std::vector<FlowResult> run_flows(const hw::NodeTopology& topology, const std::vector<Flow>& flows);

}  // namespace hetsim::sim
