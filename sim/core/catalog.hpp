#pragma once
// Catalog files (hw/catalog/*.yaml, models/catalog/*.yaml) are looked up by name under the data
// root: $HETSIM_HOME if set, else the source tree hetsim was built from.
#include <string>
#include <vector>

#include "sim/core/config.hpp"

namespace hetsim::catalog {

/// Root folder holding hw/catalog and models/catalog.
std::string root();
/// Entry names (file stems) in `folder` ("hw/catalog"), sorted.
std::vector<std::string> names(const std::string& folder);
/// Loads entry `name` of `folder`; an unknown name errors at `referrer.key` listing valid names.
config::Document load(const std::string& folder, const std::string& name, const config::Node& referrer,
                      const std::string& key);

/// A config node layered over a catalog preset. `parent.key` is either a preset name
/// ("device: h100-sxm5-80gb") or a map with `preset:` and keys that override the preset's.
struct Layered {
  config::Node node;
  config::Document preset;
};
Layered with_preset(const config::Node& parent, const std::string& key, const std::string& folder);

}  // namespace hetsim::catalog
