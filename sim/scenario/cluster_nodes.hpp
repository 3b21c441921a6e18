#pragma once
// The nodes a job of `gpus` devices runs on, from a scenario's `cluster:` section: the node type
// (hw/nodes preset or inline, or one default node of the device holding at most 8), how many, and
// the NIC speed override; shared by training and trace-replay scenarios so that both build the
// same platform from the same keys with the same errors.
//
//   cluster: {device: h100-sxm5-80gb, node: hgx-h100, fabric: {...}, nic_bandwidth: 400 Gbps}
//   # or node groups differing in their NICs (Holmes' heterogeneous NIC environments) or their
//   # devices and node type (as many device slots per node as cluster.node):
//   cluster: {device: ..., node: hgx-h100, fabric: {...},
//             node_groups: [{count: 4}, {count: 4, nic_bandwidth: 100 Gbps, nic_kind: roce},
//                           {count: 2, device: a100-sxm4-80gb, node: dgx-a100}]}
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hw/cluster_topology.hpp"
#include "hw/device.hpp"
#include "hw/node.hpp"
#include "sim/core/config.hpp"

namespace hetsim::sim {

struct ClusterNodes {
  std::shared_ptr<const hw::NodeSpec> node;  ///< every node of the cluster is one of these (but its NICs, by group)
  int nodes = 1;
  /// cluster.node_groups: per physical node, its spec (the node with the group's NICs) and group;
  /// empty without groups (every node is `node`).
  std::vector<std::shared_ptr<const hw::NodeSpec>> specs;
  std::vector<int> group;
  /// Per group, its device (node_groups[].device); null where it is cluster.device.
  std::vector<std::shared_ptr<const hw::Device>> group_devices;
  /// Logical node i (ranks i x slots onward, in Megatron's order) runs on physical node order[i]
  /// (a placement policy's choice); empty: the identity.
  std::vector<int> order;

  int slots_per_node() const { return static_cast<int>(node->device_slots.size()); }
  int physical(int logical) const { return order.empty() ? logical : order[static_cast<std::size_t>(logical)]; }
  const hw::NodeSpec& spec(int physical) const { return specs.empty() ? *node : *specs[static_cast<std::size_t>(physical)]; }
  /// The device on physical node `physical`, or null where it is cluster.device.
  const hw::Device* device_on(int physical) const {
    if (group.empty()) return nullptr;
    return group_devices[static_cast<std::size_t>(group[static_cast<std::size_t>(physical)])].get();
  }
  /// The device of global rank `rank` (placement applied), or null for cluster.device.
  const hw::Device* device_of(int rank) const { return device_on(physical(rank / slots_per_node())); }
  /// The platform tier (device memory) of global rank `rank`, ranks packed node by node in the
  /// placement's order: "node3/gpu5.hbm".
  std::string device_tier(int rank) const;
};

/// Reads cluster.node and cluster.nic_bandwidth for `gpus` devices of `device` (cluster.device,
/// already loaded) joined by `fabric` (cluster.fabric, if given); every inconsistency is an
/// InputError naming the key.
ClusterNodes load_cluster_nodes(const config::Node& cluster, const hw::Device& device, long gpus,
                                const std::optional<hw::Fabric>& fabric);

/// The run's platform: `nodes.nodes` instances of the node ("node0/", "node1/", ...) and the fabric.
hw::Cluster cluster_platform(const ClusterNodes& nodes, const std::optional<hw::Fabric>& fabric);

}  // namespace hetsim::sim
