#pragma once
// The ops of multi-head latent attention on one device (models/mla.hpp describes the model side),
// as vLLM and SGLang run DeepSeek-V3: prefill expands the cached latent into per-head K and V and
// runs ordinary attention (query/key width qk_nope + qk_rope, value width v_head_dim); decode
// absorbs the up-projections into the query and output (FlashMLA), attending over the latent
// itself: kv_lora_rank + qk_rope_head_dim wide for scores, kv_lora_rank for values.
#include <vector>

#include "models/batch.hpp"
#include "models/model.hpp"
#include "sim/core/op.hpp"

namespace hetsim::models {

/// The projections before attention for `tokens` tokens at tensor-parallel degree `tp`, repeated
/// `repeat` times: the replicated down-projections to the query and KV latents (and the RoPE key),
/// their norms, the per-head query and KV up-projections, and RoPE.
void mla_projection_ops(const ModelSpec& m, double tokens, int tp, double repeat, std::vector<Op>& out);
/// The attention itself for `batch` (one op for its prefill chunks, one for its decodes), over all
/// decoder layers. Every rank reads the whole cached latent of its sequences for its heads.
void mla_attention_ops(const ModelSpec& m, const BatchShape& batch, int tp, std::vector<Op>& out);

}  // namespace hetsim::models
