#include "models/mla_layer.hpp"

#include "models/op_factory.hpp"

namespace hetsim::models {

void mla_projection_ops(const ModelSpec& m, double tokens, int tp, double repeat, std::vector<Op>& out) {
  using namespace ops;  // NOLINT: the op constructors read as a vocabulary here
  const MlaSpec& mla = m.mla;
  const Bytes by(m.precision);
  const DType act = m.precision.activations, mm = m.precision.gemm;
  const double T = tokens, h = static_cast<double>(m.hidden_size);
  const double heads = static_cast<double>(m.num_attention_heads / tp);
  const double ql = static_cast<double>(mla.q_lora_rank), kvl = static_cast<double>(mla.kv_lora_rank);
  const double rope = static_cast<double>(mla.qk_rope_head_dim), qk = static_cast<double>(mla.qk_head_dim());
  const double nope_v = static_cast<double>(mla.qk_nope_head_dim + mla.v_head_dim);
  // One replicated GEMM to both latents and the shared RoPE key (vLLM's fused_qkv_a_proj).
  out.push_back(gemm("qkv_a_proj", mm, by.w, by.a, T, ql + kvl + rope, h, repeat));
  out.push_back(elementwise("latent_norms", act, 4 * T * (ql + kvl), 3 * T * (ql + kvl) * by.a, (ql + kvl) * by.a, repeat));
  out.push_back(gemm("q_b_proj", mm, by.w, by.a, T, heads * qk, ql > 0 ? ql : h, repeat));
  // The KV up-projection: prefill expands the new tokens' latents to per-head K (no-RoPE part) and
  // V; decode multiplies the same weights into the query and the output instead (absorption), the
  // same FLOPs per token and the same weight read.
  out.push_back(gemm("kv_b_proj", mm, by.w, by.a, T, heads * nope_v, kvl, repeat));
  const double rope_elems = T * (heads + 1) * rope;  // the heads' query parts and the one shared key
  out.push_back(elementwise("rope", act, 3 * rope_elems, 2 * rope_elems * by.a, 0, repeat));
}

void mla_attention_ops(const ModelSpec& m, const BatchShape& batch, int tp, std::vector<Op>& out) {
  using namespace ops;  // NOLINT
  const MlaSpec& mla = m.mla;
  const Bytes by(m.precision);
  const DType act = m.precision.activations;
  const double L = static_cast<double>(m.num_hidden_layers);
  const double heads = static_cast<double>(m.num_attention_heads / tp);
  const double kvl = static_cast<double>(mla.kv_lora_rank), rope = static_cast<double>(mla.qk_rope_head_dim);
  const double qk = static_cast<double>(mla.qk_head_dim()), v = static_cast<double>(mla.v_head_dim);
  const double cached = static_cast<double>(mla.cached_elements());
  const double dequant = m.precision.kv_quant.bits > 0 ? m.precision.kv_quant.dequant_flops * cached : 0.0;
  if (batch.prefill_tokens > 0) {
    // Ordinary causal attention per head over the expanded K (qk wide) and V (v wide): 2·qk FLOPs
    // per pair for scores, 2·v for the weighted values. Reads the latents of every attended token
    // and the expanded per-head K/V (activations), writes the chunk's latents.
    const double tokens = static_cast<double>(batch.prefill_tokens);
    const double read = batch.prefill_kv_read_tokens;
    out.push_back(attention("attention_prefill", OpClass::attention_prefill, act,
                            2 * (qk + v) * heads * batch.prefill_attn_pairs + dequant * read,
                            tokens * heads * (qk + v) * by.a + read * heads * (qk + v) * by.a,
                            cached * by.kv * (read + tokens), L));
    out.back().units = static_cast<double>(batch.prefill_chunks) * heads;
  }
  if (batch.decode_seqs > 0) {
    // Absorbed: each head's query is kv_lora_rank + rope wide against the latent, and its output
    // kv_lora_rank wide before the absorbed V up-projection. The latent is read once for all heads.
    const double queries = static_cast<double>(batch.decode_seqs + batch.draft_tokens);  // drafts verified too
    const double context = batch.decode_context_tokens;
    out.push_back(attention("attention_decode", OpClass::attention_decode, act,
                            2 * (kvl + rope + kvl) * heads * (context + batch.draft_attn_pairs) + dequant * context,
                            queries * heads * (kvl + rope + kvl) * by.a, cached * by.kv * (context + queries), L));
  }
}

}  // namespace hetsim::models
