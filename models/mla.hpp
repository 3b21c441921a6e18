#pragma once
// Multi-head latent attention (DeepSeek-V2/V3, Liu et al. 2024): K and V are rebuilt from a shared
// latent of kv_lora_rank elements plus one decoupled RoPE key of qk_rope_head_dim per token, and
// only those are cached: (512 + 64) elements per token and layer for DeepSeek-V3, against
// 2 · heads · head_dim for multi-head attention. Queries go through a low-rank q_lora_rank
// bottleneck. Field names as in DeepseekV3Config.
#include <cstdint>
#include <string>

#include "sim/core/config.hpp"

namespace hetsim::models {

struct MlaSpec {
  std::int64_t q_lora_rank = 0;   ///< query bottleneck; 0: a direct q_proj (DeepSeek-V2-Lite)
  std::int64_t kv_lora_rank = 0;  ///< the cached latent; 0: not MLA
  std::int64_t qk_nope_head_dim = 0;
  std::int64_t qk_rope_head_dim = 0;
  std::int64_t v_head_dim = 0;

  bool enabled() const { return kv_lora_rank > 0; }
  /// Query/key width per head (the no-RoPE and RoPE parts).
  std::int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  /// Elements cached per token and layer: the latent and the shared RoPE key.
  std::int64_t cached_elements() const { return kv_lora_rank + qk_rope_head_dim; }
  /// Parameters of one layer's attention with `heads` heads: q_a/q_b (or q), kv_a, kv_b, o and the
  /// two low-rank norms.
  std::int64_t parameters(std::int64_t hidden, std::int64_t heads) const;
  /// Of those, the linear layers' matrices (without the norms).
  std::int64_t linear_parameters(std::int64_t hidden, std::int64_t heads) const;
};

/// Reads the MLA fields of `model_type` (deepseek_v3; nothing for other families).
MlaSpec parse_mla(const config::Node& node, const std::string& model_type);

}  // namespace hetsim::models
