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

std::vector<std::int64_t> default_stage_layers(std::int64_t layers, int stages) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(stages), layers / stages);
  std::int64_t extra = layers % stages;
  // Extra layers go to the middle stages first (1 .. stages-2), then the last, then the first.
  for (int k = 1; k < stages - 1 && extra > 0; ++k, --extra) ++out[static_cast<std::size_t>(k)];
  if (extra > 0 && stages > 1) {
    ++out.back();
    --extra;
  }
  if (extra > 0) ++out.front();
  return out;
}

double stage_layers(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t) {
  if (t.layers >= 0) return static_cast<double>(t.layers);
  return static_cast<double>(default_stage_layers(m.num_hidden_layers, model_stages(p)).at(static_cast<std::size_t>(t.stage)));
}

double stage_parameters(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t) {
  const auto total = static_cast<double>(m.parameters());
  double layer = static_cast<double>(m.layer_parameters());
  const double outside = total - static_cast<double>(m.num_hidden_layers) * layer;  // embedding, head, final norm
  // Expert parallelism: a rank keeps E / ep of each MoE layer's routed experts.
  if (p.ep > 1 && m.moe.enabled())
    layer -= (1 - 1.0 / p.ep) * static_cast<double>(m.moe.experts * m.moe.expert_parameters(m.hidden_size)) *
             static_cast<double>(m.moe.moe_layers(m.num_hidden_layers)) / static_cast<double>(m.num_hidden_layers);
  const double head = static_cast<double>(m.vocab_size * m.hidden_size);
  const bool first = t.stage == 0, last = t.stage == model_stages(p) - 1;
  double params = stage_layers(m, p, t) * layer;
  if (first && last) params += outside;
  else if (first) params += m.tie_word_embeddings ? outside : outside - head;
  else if (last) params += head;
  return params / p.tp;
}

double stage_expert_parameters(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t) {
  if (!m.moe.enabled()) return 0;
  const double per_layer = static_cast<double>(m.moe.experts * m.moe.expert_parameters(m.hidden_size)) / p.ep *
                           static_cast<double>(m.moe.moe_layers(m.num_hidden_layers)) /
                           static_cast<double>(m.num_hidden_layers);
  return stage_layers(m, p, t) * per_layer / p.tp;
}

}  // namespace hetsim::models
