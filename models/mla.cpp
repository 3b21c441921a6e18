#include "models/mla.hpp"

namespace hetsim::models {

std::int64_t MlaSpec::linear_parameters(std::int64_t hidden, std::int64_t heads) const {
  const std::int64_t q = q_lora_rank > 0 ? hidden * q_lora_rank + q_lora_rank * heads * qk_head_dim()
                                         : hidden * heads * qk_head_dim();
  const std::int64_t kv_a = hidden * (kv_lora_rank + qk_rope_head_dim);  // latent and the shared RoPE key
  const std::int64_t kv_b = kv_lora_rank * heads * (qk_nope_head_dim + v_head_dim);
  const std::int64_t o = heads * v_head_dim * hidden;
  return q + kv_a + kv_b + o;
}

std::int64_t MlaSpec::parameters(std::int64_t hidden, std::int64_t heads) const {
  // RMSNorms on the query and KV latents (q_a_layernorm, kv_a_layernorm).
  return linear_parameters(hidden, heads) + q_lora_rank + kv_lora_rank;
}

MlaSpec parse_mla(const config::Node& node, const std::string& model_type) {
  MlaSpec mla;
  if (model_type != "deepseek_v3") return mla;
  // DeepseekV3Config's defaults are DeepSeek-V3's own dimensions.
  mla.q_lora_rank = node.get<std::int64_t>("q_lora_rank").default_to(1536).in_range(0, 1 << 16);
  mla.kv_lora_rank = node.get<std::int64_t>("kv_lora_rank").default_to(512).in_range(1, 1 << 16);
  mla.qk_nope_head_dim = node.get<std::int64_t>("qk_nope_head_dim").default_to(128).in_range(1, 4096);
  mla.qk_rope_head_dim = node.get<std::int64_t>("qk_rope_head_dim").default_to(64).in_range(1, 4096);
  mla.v_head_dim = node.get<std::int64_t>("v_head_dim").default_to(128).in_range(1, 4096);
  return mla;
}

}  // namespace hetsim::models
