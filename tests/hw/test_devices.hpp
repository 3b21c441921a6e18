#pragma once
#include "hw/device.hpp"
#include "sim/core/catalog.hpp"
#include "sim/core/config.hpp"

namespace hetsim::test {
/// A catalog device by name, as a scenario would load it.
inline hw::Device catalog_device(const std::string& name) {
  auto scenario = config::Document::load_string("device: " + name + "\n", "inline.yaml");
  auto layered = catalog::with_preset(scenario.root(), "device", "hw/catalog");
  auto device = hw::parse_device(layered.node);
  layered.preset.check_unknown_keys();
  return device;
}
/// The same device with every efficiency 1 and no launch overhead or link latency: the pure roofline.
inline hw::Device ideal(hw::Device d) {
  for (auto& e : d.efficiency) e = {1.0, 1.0};
  d.kernel_launch_overhead = 0;
  d.scale_up.latency = 0;
  return d;
}
}  // namespace hetsim::test
