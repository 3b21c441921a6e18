#pragma once
// A server node as the engine places replicas on it: its topology (memory tiers, switches,
// links; hw/topology) and the device slots replicas occupy, which are its HBM tiers in listed
// order. Loaded from hw/nodes/NAME.yaml or given inline; when a scenario gives none but a policy
// moves bytes (e.g. swap preemption), a default node is derived from the device entry: each
// device's memory behind its own host link to one host DRAM tier.
#include <string>
#include <vector>

#include "hw/device.hpp"
#include "hw/topology.hpp"
#include "sim/core/config.hpp"

namespace hetsim::hw {

struct NodeSpec {
  std::string name;
  NodeTopology topology;
  std::vector<std::string> device_slots;  ///< HBM tiers, in listed order
  std::vector<Nic> nics;                  ///< links into the cluster fabric (`nics:`), if any
  std::string source;                     ///< "hw/nodes/gh200.yaml", "inline" or "default from DEVICE"

  /// First tier of kind DRAM (where host swap space lives); empty if none.
  std::string first_dram_tier() const;
};

/// Reads `name` (optional), `tiers`, `switches`, `links`, `nics` (optional); requires at least one HBM tier.
NodeSpec parse_node(const config::Node& node);
/// The node assumed when a scenario names none: `devices` slots gpu0.hbm.. each linked to
/// host.dram by the device's host link (kind, bandwidth, latency from its catalog entry).
NodeSpec default_node(const Device& device, int devices);

}  // namespace hetsim::hw
