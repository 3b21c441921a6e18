#pragma once
// A cluster of nodes joined by a network fabric, flattened into one NodeTopology so that the same
// routing and contended transfers (sim/engine/transfer_network) work across nodes.
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
// Names inside node n are prefixed "n/": tier gpu0.hbm of node n1 is "n1/gpu0.hbm".
#include "hw/topology.hpp"
#include "sim/core/config.hpp"

namespace hetsim::hw {

NodeTopology parse_cluster_topology(const config::Node& node);

}  // namespace hetsim::hw
