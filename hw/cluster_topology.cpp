#include "hw/cluster_topology.hpp"

#include <fmt/format.h>

#include <map>

namespace hetsim::hw {

std::string Fabric::switch_name(std::size_t index) const {
  return fmt::format("{}{}", kind == "rail" ? "rail" : "leaf", index);
}

Fabric parse_fabric(const config::Node& node) {
  Fabric f;
  f.kind = node.get<std::string>("kind").one_of({"fat_tree", "rail"}).value();
  f.latency = node.quantity("latency", units::Dim::time).default_to("0 s").non_negative();
  f.uplink_bandwidth = node.quantity("uplink_bandwidth", units::Dim::bandwidth).positive();
  if (f.kind == "fat_tree") f.nodes_per_leaf = node.get<int>("nodes_per_leaf").in_range(1, 100000).value();
  return f;
}

Cluster parse_cluster(const config::Node& node) {
  struct NodeType {
    std::shared_ptr<const NodeTopology> topology;
    std::shared_ptr<const std::vector<Nic>> nics;
  };
  std::map<std::string, NodeType> types;
  const auto type_cfg = node.child("node_types");
  for (const auto& name : type_cfg.keys()) {
    const config::Node t = type_cfg.child(name);
    auto topology = std::make_shared<const NodeTopology>(parse_topology(t));
    auto nics = std::make_shared<const std::vector<Nic>>(parse_nics(t, *topology));
    types.emplace(name, NodeType{topology, nics});
  }
  Cluster out;
  out.fabric = parse_fabric(node.child("fabric"));
  for (const auto& n : node.child("nodes").items()) {
    const std::string name = n.get<std::string>("name").required();
    const std::string type = n.get<std::string>("type").required();
    auto it = types.find(type);
    if (it == types.end()) {
      std::string valid;
      for (const auto& [k, t] : types) valid += (valid.empty() ? "" : ", ") + k;
      n.fail_key("type", type, fmt::format("expected one of node_types: {}", valid));
    }
    for (const auto& other : out.nodes)
      if (other.prefix == name + "/") n.fail_key("name", name, "node names must be unique");
    out.nodes.push_back({name + "/", it->second.topology, it->second.nics});
  }
  return out;
}

NodeTopology flatten(const Cluster& cluster) {
  NodeTopology out;
  out.switches.push_back("spine");
  std::map<std::string, bool> fabric_switches;
  auto fabric_switch = [&](const std::string& name) {
    if (!fabric_switches[name]) {
      fabric_switches[name] = true;
      out.switches.push_back(name);
      out.links.push_back({name + "-spine", "fabric", name, "spine", cluster.fabric->uplink_bandwidth, cluster.fabric->latency});
    }
    return name;
  };
  for (std::size_t i = 0; i < cluster.nodes.size(); ++i) {
    const ClusterNode& node = cluster.nodes[i];
    const std::string& prefix = node.prefix;
    for (auto tier : node.topology->tiers) {
      tier.name = prefix + tier.name;
      out.tiers.push_back(tier);
    }
    for (const auto& sw : node.topology->switches) out.switches.push_back(prefix + sw);
    for (auto link : node.topology->links) {
      link.name = prefix + link.name;
      link.a = prefix + link.a;
      link.b = prefix + link.b;
      out.links.push_back(link);
    }
    if (!node.nics || !cluster.fabric) continue;
    for (std::size_t n = 0; n < node.nics->size(); ++n) {
      const Nic& nic = (*node.nics)[n];
      const std::string sw = fabric_switch(cluster.fabric->switch_name(cluster.fabric->switch_of(i, n)));
      out.links.push_back({prefix + nic.name, nic.kind, prefix + nic.attach, sw, nic.bandwidth, nic.latency});
    }
  }
  return out;
}

NodeTopology parse_cluster_topology(const config::Node& node) { return flatten(parse_cluster(node)); }

}  // namespace hetsim::hw
