#include "sim/serving/memory_budget.hpp"

#include <algorithm>

namespace hetsim::serving {

ActivationPeak activation_peak(const models::ModelSpec& m, int tp, policies::StepLimits step,
                               double sampler_bytes_per_logit) {
  const double b = bytes_per_element(m.precision.activations);  // activations between ops
  const double t = static_cast<double>(step.tokens);
  const double h = static_cast<double>(m.hidden_size);
  const double q = static_cast<double>(m.num_attention_heads * m.head_dim) / tp;
  const double kv = static_cast<double>(m.kv_heads_per_device(tp) * m.head_dim);
  const double mlp = m.mlp_activation_width(tp);
  const double attention = 2 * q + 2 * kv;                                  // q/k/v output, then attention output
  ActivationPeak a;
  a.forward = t * (2 * h + std::max(mlp, attention)) * b;
  const double rows = static_cast<double>(std::min(step.sequences, step.tokens));
  a.sampler = rows * static_cast<double>(m.vocab_size) * sampler_bytes_per_logit + t * h * b;
  return a;
}

policies::KvSizing kv_sizing(const hw::Device& device, const models::ModelSpec& model, const hw::ServingStack& stack,
                             int tp, policies::StepLimits step, bool weights_in_device_memory) {
  policies::KvSizing s;
  s.device_memory_bytes = device.usable_memory;
  s.weight_bytes = weights_in_device_memory ? model.weight_bytes_per_device(tp) : 0.0;
  s.activation_bytes = activation_peak(model, tp, step, stack.sampler_bytes_per_logit).peak();
  s.non_torch_bytes = stack.non_torch_for(tp);
  s.graph_bytes = stack.graph_pool;
  s.kv_bytes_per_token = model.kv_bytes_per_token(tp);
  s.layers = model.num_hidden_layers;
  return s;
}

}  // namespace hetsim::serving
