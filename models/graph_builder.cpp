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

double stage_layers(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t) {
  if (t.layers >= 0) return static_cast<double>(t.layers);
  const int stages = model_stages(p);
  const std::int64_t per = m.num_hidden_layers / stages;
  return static_cast<double>(t.stage == stages - 1 ? m.num_hidden_layers - per * (stages - 1) : per);
}

double stage_parameters(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t) {
  const auto total = static_cast<double>(m.parameters());
  const double layer = static_cast<double>(m.layer_parameters());
  const double outside = total - static_cast<double>(m.num_hidden_layers) * layer;  // embedding, head, final norm
  const double head = static_cast<double>(m.vocab_size * m.hidden_size);
  const bool first = t.stage == 0, last = t.stage == model_stages(p) - 1;
  double params = stage_layers(m, p, t) * layer;
  if (first && last) params += outside;
  else if (first) params += m.tie_word_embeddings ? outside : outside - head;
  else if (last) params += head;
  return params / p.tp;
}

}  // namespace hetsim::models
