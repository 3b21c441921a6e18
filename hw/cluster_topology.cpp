#include "hw/cluster_topology.hpp"

#include <fmt/format.h>

#include <map>

namespace hetsim::hw {
namespace {

struct NicSpec {
  std::string name, attach, kind;
  double bandwidth = 0, latency = 0;
};

struct NodeType {
  NodeTopology topology;
  std::vector<NicSpec> nics;
};

NodeType parse_node_type(const config::Node& node) {
  NodeType t;
  t.topology = parse_topology(node);
  if (auto nics = node.maybe("nics"))
    for (const auto& n : nics->items()) {
      NicSpec nic;
      nic.name = n.get<std::string>("name").required();
      nic.attach = n.get<std::string>("attach").required();
      bool known = false;
      for (const auto& tier : t.topology.tiers) known = known || tier.name == nic.attach;
      for (const auto& sw : t.topology.switches) known = known || sw == nic.attach;
      if (!known) n.fail_key("attach", nic.attach, "expected a tier or switch of this node type");
      nic.kind = n.get<std::string>("kind").default_to("ethernet").one_of({"ib", "roce", "ethernet"});
      nic.bandwidth = n.quantity("bandwidth", units::Dim::bandwidth).positive();
      nic.latency = n.quantity("latency", units::Dim::time).default_to("0 s").non_negative();
      t.nics.push_back(nic);
    }
  return t;
}

}  // namespace

NodeTopology parse_cluster_topology(const config::Node& node) {
  std::map<std::string, NodeType> types;
  const auto type_cfg = node.child("node_types");
  for (const auto& name : type_cfg.keys()) types.emplace(name, parse_node_type(type_cfg.child(name)));

  const auto fabric = node.child("fabric");
  const std::string kind = fabric.get<std::string>("kind").one_of({"fat_tree", "rail"});
  const double fabric_latency = fabric.quantity("latency", units::Dim::time).default_to("0 s").non_negative();
  const double uplink = fabric.quantity("uplink_bandwidth", units::Dim::bandwidth).positive();
  const int per_leaf = kind == "fat_tree" ? fabric.get<int>("nodes_per_leaf").in_range(1, 100000).value() : 1;

  NodeTopology out;
  out.switches.push_back("spine");
  std::map<std::string, bool> fabric_switches;
  auto fabric_switch = [&](const std::string& name) {
    if (!fabric_switches[name]) {
      fabric_switches[name] = true;
      out.switches.push_back(name);
      out.links.push_back({name + "-spine", "fabric", name, "spine", uplink, fabric_latency});
    }
    return name;
  };
  const auto nodes = node.child("nodes").items();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const std::string name = nodes[i].get<std::string>("name").required();
    const std::string type = nodes[i].get<std::string>("type").required();
    auto it = types.find(type);
    if (it == types.end()) {
      std::string valid;
      for (const auto& [n, t] : types) valid += (valid.empty() ? "" : ", ") + n;
      nodes[i].fail_key("type", type, fmt::format("expected one of node_types: {}", valid));
    }
    const std::string prefix = name + "/";
    const NodeType& t = it->second;
    for (auto tier : t.topology.tiers) {
      tier.name = prefix + tier.name;
      out.tiers.push_back(tier);
    }
    for (const auto& sw : t.topology.switches) out.switches.push_back(prefix + sw);
    for (auto link : t.topology.links) {
      link.name = prefix + link.name;
      link.a = prefix + link.a;
      link.b = prefix + link.b;
      out.links.push_back(link);
    }
    for (std::size_t n = 0; n < t.nics.size(); ++n) {
      const NicSpec& nic = t.nics[n];
      const std::string sw = kind == "fat_tree" ? fabric_switch(fmt::format("leaf{}", i / static_cast<std::size_t>(per_leaf)))
                                                : fabric_switch(fmt::format("rail{}", n));
      out.links.push_back({prefix + nic.name, nic.kind, prefix + nic.attach, sw, nic.bandwidth, nic.latency});
    }
  }
  return out;
}

}  // namespace hetsim::hw
