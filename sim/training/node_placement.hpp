#pragma once
// Which physical node each block of ranks runs on, as policies (policies/training/placement/): ranks
// fill logical nodes in Megatron's order (tensor innermost, then context, data, pipeline), so
// pipeline stage s holds a block of consecutive logical nodes and its data-parallel groups stay in
// that block; a placement maps logical nodes to physical ones. Where node groups differ in their
// NICs (cluster.node_groups), the map decides whether a data-parallel ring crosses slow NICs
// (Holmes, Yang et al. 2023: keep each data-parallel group on one NIC type, let the pipeline's light
// traffic cross between types).
//
//   policies:
//     placement: {impl: nic_aware}   # in_order | round_robin | nic_aware
#include <vector>

namespace hetsim::training {

/// What a placement knows of a physical node.
struct PlacementNode {
  int group = 0;             ///< its cluster.node_groups entry (0 without groups)
  double nic_bandwidth = 0;  ///< bytes/s of its NICs (each)
};

class NodePlacement {
 public:
  static constexpr const char* kKind = "node placement policy";
  virtual ~NodePlacement() = default;
  /// The physical node of each logical node (a permutation of 0 .. nodes.size() - 1).
  virtual std::vector<int> order(const std::vector<PlacementNode>& nodes) const = 0;
};

}  // namespace hetsim::training
