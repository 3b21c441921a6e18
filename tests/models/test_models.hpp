#pragma once
#include "models/model.hpp"
#include "sim/core/catalog.hpp"

namespace hetsim::test {
/// A catalog model by name, as a scenario would load it.
inline models::ModelSpec catalog_model(const std::string& name) {
  auto scenario = config::Document::load_string("model: " + name + "\n", "inline.yaml");
  auto layered = catalog::with_preset(scenario.root(), "model", "models/catalog");
  auto spec = models::parse_model(layered.node);
  layered.preset.check_unknown_keys();
  return spec;
}
}  // namespace hetsim::test
