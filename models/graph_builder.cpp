#include "models/graph_builder.hpp"

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace hetsim::models {

std::map<std::string, const GraphBuilder*>& graph_builders() {
  static std::map<std::string, const GraphBuilder*> builders;  // function-local: no init-order fiasco
  return builders;
}

bool register_graph_builder(const std::string& model_type, const GraphBuilder* builder) {
  if (!graph_builders().emplace(model_type, builder).second)
    throw std::logic_error(fmt::format("duplicate graph builder for model_type '{}'", model_type));
  return true;
}

const GraphBuilder& builder_for(const ModelSpec& m) {
  auto it = graph_builders().find(m.model_type);
  if (it == graph_builders().end())
    throw InvariantError(fmt::format("no graph builder registered for model_type '{}' (model {})", m.model_type, m.name));
  return *it->second;
}

}  // namespace hetsim::models
