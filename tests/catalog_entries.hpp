#pragma once
// Catalog entries loaded exactly as a scenario loads them ("device: NAME", "model: NAME").
#include "hw/device.hpp"
#include "models/model.hpp"
#include "sim/core/catalog.hpp"
#include "sim/core/config.hpp"

namespace hetsim::test {

template <class Parse>
auto catalog_entry(const std::string& key, const std::string& folder, const std::string& name, Parse parse) {
  auto scenario = config::Document::load_string(key + ": " + name + "\n", "inline.yaml");
  auto layered = catalog::with_preset(scenario.root(), key, folder);
  auto entry = parse(layered.node);
  layered.preset.check_unknown_keys();
  return entry;
}
inline hw::Device catalog_device(const std::string& name) {
  return catalog_entry("device", "hw/catalog", name, hw::parse_device);
}
inline models::ModelSpec catalog_model(const std::string& name) {
  return catalog_entry("model", "models/catalog", name, models::parse_model);
}
/// The same device with every efficiency 1 and no launch overhead or link latency: the pure roofline.
inline hw::Device ideal(hw::Device d) {
  for (auto& e : d.efficiency) e = {1.0, 1.0};
  d.op_efficiency.clear();          // a profile's per-op curves
  d.measured_collectives.clear();   // and measured collective tables
  d.kernel_launch_overhead = 0;
  d.scale_up.latency = 0;
  return d;
}

}  // namespace hetsim::test
