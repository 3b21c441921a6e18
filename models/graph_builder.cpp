#include "models/graph_builder.hpp"

#include <algorithm>
#include <initializer_list>
#include <utility>

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

namespace {
using M = RecomputeModule;
constexpr std::pair<const char*, unsigned> kRecomputeModules[] = {
    {"core_attn", M::core_attn}, {"layernorm", M::layernorm}, {"mla_up_proj", M::mla_up_proj}, {"moe_act", M::moe_act},
    {"mlp", M::mlp},             {"shared_experts", M::shared_experts}, {"moe", M::moe}};
bool in(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}
}  // namespace

unsigned recompute_module(std::string_view name) {
  for (const auto& [n, bit] : kRecomputeModules)
    if (name == n) return bit;
  return 0;
}

std::string recompute_module_names(unsigned modules) {
  std::string out;
  for (const auto& [n, bit] : kRecomputeModules)
    if (modules & bit) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

bool recomputes(unsigned modules, std::string_view name, OpClass cls) {
  if ((modules & M::core_attn) && cls == OpClass::attention_prefill) return true;
  if ((modules & M::layernorm) && in(name, {"input_norm", "post_attention_norm", "latent_norms", "qk_norm"})) return true;
  if ((modules & M::mla_up_proj) && in(name, {"q_b_proj", "kv_b_proj", "rope"})) return true;
  if ((modules & M::moe_act) && name == "experts_silu_mul") return true;
  if ((modules & M::mlp) && in(name, {"gate_up_proj", "silu_mul", "down_proj", "fc1", "gelu", "fc2"})) return true;
  if ((modules & (M::shared_experts | M::moe)) && name.starts_with("shared_experts_")) return true;
  // The whole MoE MLP, its all-to-alls included (Megatron-Core's "moe" recomputes the dispatch too).
  return (modules & M::moe) && (name.starts_with("moe_") || name.starts_with("experts_"));
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

std::int64_t stage_first_layer(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t) {
  if (t.first_layer >= 0) return t.first_layer;
  const auto split = default_stage_layers(m.num_hidden_layers, model_stages(p));
  std::int64_t first = 0;
  for (int k = 0; k < t.stage && k < static_cast<int>(split.size()); ++k) first += split[static_cast<std::size_t>(k)];
  return first;
}

namespace {
/// Layers of [first, first + count) that fall in [begin, end).
double overlap(double first, double count, double begin, double end) {
  return std::max(0.0, std::min(first + count, end) - std::max(first, begin));
}
}  // namespace

double stage_dense_layers(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t) {
  const double layers = stage_layers(m, p, t);
  if (!m.moe.enabled()) return layers;
  return overlap(static_cast<double>(stage_first_layer(m, p, t)), layers, 0, static_cast<double>(m.moe.dense_layers));
}

double stage_parameters(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t) {
  const auto total = static_cast<double>(m.parameters());
  const auto kinds = m.layer_kinds();
  double decoder = 0;
  for (const auto& kind : kinds) decoder += static_cast<double>(kind.count * kind.parameters);
  const double outside = total - decoder;  // embedding, head, final norm
  // Each kind's layers in the stage's range, in layer order (DeepSeek-V3: 3 dense, then 58 MoE).
  // Split over tp; under expert parallelism the routed experts are not: a rank keeps E / ep of
  // each MoE layer's experts whole (stage_expert_parameters), added after the split.
  const double layers = stage_layers(m, p, t);
  const double dense = stage_dense_layers(m, p, t);
  double params = 0, begin = 0;
  for (const auto& kind : kinds) {
    const bool moe = m.moe.enabled() && begin >= static_cast<double>(m.moe.dense_layers);
    double per_layer = static_cast<double>(kind.parameters);
    if (moe && p.ep > 1) per_layer -= static_cast<double>(m.moe.experts * m.moe.expert_parameters(m.hidden_size));
    params += (moe ? layers - dense : dense) * per_layer;
    begin += static_cast<double>(kind.count);
  }
  // The first stage holds the embedding (and GPT's learned positions), the last the final norm and
  // the head (its own copy of a tied one).
  const double head = static_cast<double>(m.vocab_size * m.hidden_size), norm = static_cast<double>(m.norm_parameters());
  const bool is_first = t.stage == 0, is_last = t.stage == model_stages(p) - 1;
  if (is_first && is_last) params += outside;
  else if (is_first) params += outside - norm - (m.tie_word_embeddings ? 0 : head);
  else if (is_last) params += head + norm;
  return params / p.tp + (p.ep > 1 ? stage_expert_parameters(m, p, t) : 0);
}

double stage_expert_parameters(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t) {
  if (!m.moe.enabled()) return 0;
  // Whole under expert parallelism (expert-TP 1), split in width over tp without.
  const double per_layer = static_cast<double>(m.moe.experts * m.moe.expert_parameters(m.hidden_size)) / p.ep;
  return (stage_layers(m, p, t) - stage_dense_layers(m, p, t)) * per_layer / p.expert_tp();
}

}  // namespace hetsim::models
