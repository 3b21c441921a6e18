#pragma once
// A cluster of nodes joined by a network fabric.
//
//   node_types:
//     dgx:                         # a node description (hw/topology.hpp) plus its NICs
//       tiers: [...]
//       switches: [...]
//       links: [...]
//       nics:
//         - {name: nic0, attach: gpu0.hbm, bandwidth: 400 Gbps, latency: 1 us, kind: ib}
//   nodes:
//     - {name: n0, type: dgx}
//     - {name: n1, type: older}    # heterogeneous nodes and NICs are fine
//   fabric:
//     kind: fat_tree               # fat_tree: nodes -> leaf switches -> one spine
//     nodes_per_leaf: 2            #   (uplink = leaf-to-spine link per leaf)
//     uplink_bandwidth: 800 Gbps
//     latency: 1 us
//   # or kind: rail: NIC i of every node joins switch rail<i> (rail-optimized); rails meet at a spine.
//
// Names inside node n are prefixed "n/": tier gpu0.hbm of node n1 is "n1/gpu0.hbm". A Cluster keeps
// the nodes apart (each node instance shares its type's topology), so a platform of 1,000 nodes
// costs 1,000 small descriptions, not one flat graph; hw/cluster_router finds routes across it.
// `flatten` still gives the one-graph view for small clusters.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hw/topology.hpp"
#include "sim/core/config.hpp"

namespace hetsim::hw {

/// The network joining the nodes' NICs: a two-level tree whose first level is a leaf switch per
/// `nodes_per_leaf` nodes (fat_tree) or a switch per NIC index (rail), all under one spine.
struct Fabric {
  std::string kind = "fat_tree";  ///< fat_tree | rail
  int nodes_per_leaf = 1;         ///< fat_tree only
  double uplink_bandwidth = 0;    ///< bytes/s per direction, each first-level switch to the spine
  double latency = 0;             ///< seconds, each uplink

  /// First-level switch that NIC `nic` of the `node`-th node joins.
  std::size_t switch_of(std::size_t node, std::size_t nic) const {
    return kind == "rail" ? nic : node / static_cast<std::size_t>(nodes_per_leaf);
  }
  /// Name of first-level switch `index`: "leaf3" or "rail3".
  std::string switch_name(std::size_t index) const;
};

/// One node instance: its tiers are named prefix + tier name.
struct ClusterNode {
  std::string prefix;                            ///< "n1/", "pool0.node3/", or "" for a lone node
  std::shared_ptr<const NodeTopology> topology;  ///< shared by all instances of a node type
  std::shared_ptr<const std::vector<Nic>> nics;  ///< may be null: no NICs
};

struct Cluster {
  std::vector<ClusterNode> nodes;
  std::optional<Fabric> fabric;  ///< without one, nodes cannot reach each other
};

/// Reads a `fabric` map: kind, nodes_per_leaf (fat_tree), uplink_bandwidth, latency.
Fabric parse_fabric(const config::Node& node);
/// Reads node_types, nodes and fabric.
Cluster parse_cluster(const config::Node& node);
/// The whole cluster as one node topology (fabric switches "spine", "leafN"/"railN", uplinks
/// "leafN-spine", NIC links "n/nicK"): fine for a few nodes, quadratic to route for many.
NodeTopology flatten(const Cluster& cluster);
/// flatten(parse_cluster(node)).
NodeTopology parse_cluster_topology(const config::Node& node);

}  // namespace hetsim::hw
