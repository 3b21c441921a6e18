#include "sim/scenario/cluster_nodes.hpp"

#include <fmt/format.h>

#include <cmath>

#include "sim/core/units.hpp"
#include "sim/scenario/scenario.hpp"

namespace hetsim::sim {

/// GPUs a job may put on the default node (one node of the device without NICs), as a real server holds.
static constexpr int kMaxDefaultGpus = 8;

std::string ClusterNodes::device_tier(int r) const {
  const int slots = slots_per_node();
  const int n = physical(r / slots);
  return fmt::format("node{}/{}", n, spec(n).device_slots[static_cast<std::size_t>(r % slots)]);
}

namespace {

/// The capacity of a node's device slots must be the device's (a device of another memory size
/// would not be the one the node holds).
void check_slots_hold(const config::Node& where, const hw::NodeSpec& node, const hw::Device& device) {
  const hw::MemoryTier& held = *node.topology.tier(node.device_slots.front());
  if (std::abs(held.capacity - device.memory().capacity) > 0.02 * held.capacity)
    where.fail_key("device", device.name,
                   fmt::format("its {:.1f} GB does not fit the slots of node '{}' ({}), which hold {:.1f} GB",
                               device.memory().capacity / 1e9, node.name, node.source, held.capacity / 1e9));
}

/// cluster.node_groups: how many nodes of each group, each group's device and node type, and its
/// NICs (speed, kind).
void load_node_groups(ClusterNodes& out, const config::Node& cfg) {
  if (!cfg.is_sequence()) cfg.fail("expected a list of node groups, e.g. [{count: 4}, {count: 4, nic_bandwidth: 100 Gbps}]");
  int total = 0, index = 0;
  for (const auto& item : cfg.items()) {
    const int count = item.get<int>("count").in_range(1, 1 << 20);
    std::shared_ptr<const hw::Device> device;
    std::shared_ptr<const hw::NodeSpec> base = out.node;
    if (item.has("device")) {
      device = load_device(item);
      if (!item.has("node"))
        item.fail_key("device", device->name, "a node type too (node_groups[].node): the group's servers hold this device");
    }
    if (item.has("node")) {
      if (!device) item.fail_key("node", item.child("node").shown(), "a device too (node_groups[].device) for the group's node");
      base = load_node(item);
      if (base->device_slots.size() != out.node->device_slots.size())
        item.fail_key("node", base->name,
                      fmt::format("{} device slots per node, as cluster.node ({}) has: ranks fill nodes in order",
                                  out.node->device_slots.size(), out.node->name));
      check_slots_hold(item, *base, *device);
    }
    out.group_devices.push_back(device);
    auto spec = std::make_shared<hw::NodeSpec>(*base);
    if (item.has("nic_bandwidth") || item.has("nic_kind")) {
      if (spec->nics.empty())
        item.fail(fmt::format("node '{}' ({}) has no NICs to set", spec->name, spec->source));
      const double bw = item.has("nic_bandwidth")
                            ? item.quantity("nic_bandwidth", units::Dim::bandwidth).positive().value()
                            : spec->nics.front().bandwidth;
      const std::string kind =
          item.get<std::string>("nic_kind").default_to(spec->nics.front().kind).one_of({"ib", "roce", "ethernet"}).value();
      for (auto& nic : spec->nics) {
        nic.bandwidth = bw;
        nic.kind = kind;
      }
    }
    for (int i = 0; i < count; ++i) {
      out.specs.push_back(spec);
      out.group.push_back(index);
    }
    total += count;
    ++index;
  }
  if (total != out.nodes)
    cfg.fail(fmt::format("the groups hold {} nodes; the job needs {} ({} GPUs per node)", total, out.nodes,
                         out.slots_per_node()));
}

}  // namespace

ClusterNodes load_cluster_nodes(const config::Node& cluster, const hw::Device& device, long gpus,
                                const std::optional<hw::Fabric>& fabric) {
  ClusterNodes out;
  // Nodes: the preset or inline node, or one default node holding the whole job.
  if (cluster.has("node")) {
    out.node = load_node(cluster);
  } else if (gpus <= kMaxDefaultGpus) {
    out.node = std::make_shared<const hw::NodeSpec>(hw::default_node(device, static_cast<int>(gpus)));
  } else {
    cluster.fail(fmt::format("the job needs {} GPUs: give cluster.node (a node type with NICs, e.g. hgx-h100) and "
                             "cluster.fabric; without a node, one default node holds at most {} GPUs",
                             gpus, kMaxDefaultGpus));
  }
  // cluster.nic_bandwidth: every NIC of the node at this speed (what-if: 400G vs 100G).
  if (cluster.has("nic_bandwidth")) {
    auto spec = std::make_shared<hw::NodeSpec>(*out.node);
    if (spec->nics.empty())
      cluster.fail_key("nic_bandwidth", cluster.child("nic_bandwidth").shown(),
                       fmt::format("node '{}' ({}) has no NICs to set", spec->name, spec->source));
    const double bw = cluster.quantity("nic_bandwidth", units::Dim::bandwidth).positive().value();
    for (auto& nic : spec->nics) nic.bandwidth = bw;
    out.node = spec;
  }
  const int slots = out.slots_per_node();
  out.nodes = static_cast<int>((gpus + slots - 1) / slots);
  if (auto groups = cluster.maybe("node_groups")) load_node_groups(out, *groups);
  check_slots_hold(cluster, *out.node, device);
  if (out.nodes > 1 && out.node->nics.empty())
    cluster.fail_key("node", out.node->name,
                     fmt::format("the job needs {} GPUs, {} nodes of {} slots, but node '{}' has no NICs to join them",
                                 gpus, out.nodes, slots, out.node->name));
  if (out.nodes > 1 && !fabric)
    cluster.fail(fmt::format("the job needs {} nodes of {} GPUs; give cluster.fabric to join them", out.nodes, slots));
  return out;
}

hw::Cluster cluster_platform(const ClusterNodes& n, const std::optional<hw::Fabric>& fabric) {
  hw::Cluster c;
  c.fabric = fabric;
  for (int i = 0; i < n.nodes; ++i) {
    const auto& spec = n.specs.empty() ? n.node : n.specs[static_cast<std::size_t>(i)];
    c.nodes.push_back({fmt::format("node{}/", i), std::shared_ptr<const hw::NodeTopology>(spec, &spec->topology),
                       std::shared_ptr<const std::vector<hw::Nic>>(spec, &spec->nics)});
  }
  return c;
}

}  // namespace hetsim::sim
