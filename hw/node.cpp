#include "hw/node.hpp"

#include <fmt/format.h>

namespace hetsim::hw {

std::string NodeSpec::first_dram_tier() const {
  for (const auto& t : topology.tiers)
    if (t.kind == TierKind::dram) return t.name;
  return {};
}

NodeSpec parse_node(const config::Node& node) {
  NodeSpec spec;
  spec.name = node.get<std::string>("name").default_to("node");
  spec.topology = parse_topology(node);
  spec.nics = parse_nics(node, spec.topology);
  for (const auto& t : spec.topology.tiers)
    if (t.kind == TierKind::hbm) spec.device_slots.push_back(t.name);
  return spec;
}

NodeSpec default_node(const Device& device, int devices) {
  NodeSpec spec;
  spec.name = fmt::format("default node of {}", device.name);
  spec.source = fmt::format("default from {}: each device's host link to one host DRAM", device.name);
  MemoryTier dram;
  dram.name = "host.dram";
  dram.kind = TierKind::dram;
  // Host DRAM capacity and bandwidth are not in a device entry; they are set so that they never
  // bind (the links do). Give the scenario a node (hw/nodes) to model them.
  dram.capacity = 1e18;
  dram.read_bandwidth = dram.write_bandwidth = device.host.bandwidth * devices;
  spec.topology.tiers.push_back(dram);
  for (int i = 0; i < devices; ++i) {
    MemoryTier hbm;
    hbm.name = fmt::format("gpu{}.hbm", i);
    hbm.kind = TierKind::hbm;
    hbm.capacity = device.memory().capacity;
    hbm.read_bandwidth = hbm.write_bandwidth = device.memory().read_bandwidth;
    spec.topology.tiers.push_back(hbm);
    spec.device_slots.push_back(hbm.name);
    spec.topology.links.push_back(
        {fmt::format("host{}", i), device.host.kind, hbm.name, dram.name, device.host.bandwidth, device.host.latency});
  }
  return spec;
}

}  // namespace hetsim::hw
