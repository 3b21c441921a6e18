#include "models/step_ops.hpp"

namespace hetsim::models {
namespace {

Op gemm(std::string_view name, DType dt, double m, double n, double k, double repeat, bool bias = false) {
  const double b = bytes_per_element(dt);
  Op op;
  op.name = name;
  op.cls = OpClass::gemm;
  op.dtype = dt;
  op.flops = 2 * m * n * k + (bias ? m * n : 0);
  op.weight_bytes = (k * n + (bias ? n : 0)) * b;
  op.activation_bytes = (m * k + m * n) * b;
  op.repeat = repeat;
  return op;
}

Op elementwise(std::string_view name, DType dt, double flops, double activation_bytes, double weight_bytes,
               double repeat) {
  Op op;
  op.name = name;
  op.cls = OpClass::elementwise;
  op.dtype = dt;
  op.flops = flops;
  op.activation_bytes = activation_bytes;
  op.weight_bytes = weight_bytes;
  op.repeat = repeat;
  return op;
}

Op collective(std::string_view name, Collective kind, DType dt, int tp, double payload_bytes, double repeat) {
  Op op;
  op.name = name;
  op.cls = OpClass::collective;
  op.dtype = dt;
  op.collective = kind;
  op.group = tp;
  op.comm_bytes = payload_bytes;
  op.repeat = repeat;
  return op;
}

}  // namespace

void step_ops(const ModelSpec& m, const BatchShape& batch, int tp, std::vector<Op>& out) {
  out.clear();
  if (batch.empty()) return;
  const DType dt = m.dtype;
  const double b = bytes_per_element(dt);
  const double L = static_cast<double>(m.num_hidden_layers);
  const double T = static_cast<double>(batch.tokens());
  const double h = static_cast<double>(m.hidden_size);
  const double hd = static_cast<double>(m.head_dim);
  const double heads = static_cast<double>(m.num_attention_heads / tp);
  const double kv_heads = static_cast<double>(m.kv_heads_per_device(tp));
  const double inter = static_cast<double>(m.intermediate_size / tp);
  const double vocab = static_cast<double>(m.vocab_size) / tp;

  // Embedding lookup: gather T rows (vocab-parallel, then summed by the first all-reduce).
  out.push_back(elementwise("embedding", dt, 0, 2 * T * h * b, 0, 1));

  // RMSNorm: square, mean, rsqrt-scale, weight multiply (~4 FLOPs/element); fused residual add.
  out.push_back(elementwise("input_norm", dt, 4 * T * h, 3 * T * h * b, h * b, L));
  out.push_back(gemm("qkv_proj", dt, T, (heads + 2 * kv_heads) * hd, h, L, m.qkv_bias));
  // RoPE rotates q and k in place: ~3 FLOPs per element, read + write.
  const double rope_elems = T * (heads + kv_heads) * hd;
  out.push_back(elementwise("rope", dt, 3 * rope_elems, 2 * rope_elems * b, 0, L));

  if (batch.prefill_tokens > 0) {
    // Causal attention over each chunk and its cached context: QK^T and PV are 2 FLOPs per
    // multiply-add each, per head and head dim (FlashAttention's count). Bytes at the I/O lower bound:
    // read Q, write O, read K and V of every attended token once, write the chunk's new K and V.
    Op op;
    op.name = "attention_prefill";
    op.cls = OpClass::attention_prefill;
    op.dtype = dt;
    op.flops = 4 * hd * heads * batch.prefill_attn_pairs;
    const double tp_tokens = static_cast<double>(batch.prefill_tokens);
    op.activation_bytes = 2 * tp_tokens * heads * hd * b;
    op.kv_bytes = 2 * kv_heads * hd * b * (batch.prefill_kv_read_tokens + tp_tokens);
    op.repeat = L;
    out.push_back(op);
  }
  if (batch.decode_seqs > 0) {
    // One query per sequence against its whole context: memory-bound on the KV read.
    Op op;
    op.name = "attention_decode";
    op.cls = OpClass::attention_decode;
    op.dtype = dt;
    op.flops = 4 * hd * heads * batch.decode_context_tokens;
    const double seqs = static_cast<double>(batch.decode_seqs);
    op.activation_bytes = 2 * seqs * heads * hd * b;
    op.kv_bytes = 2 * kv_heads * hd * b * (batch.decode_context_tokens + seqs);
    op.repeat = L;
    out.push_back(op);
  }
  out.push_back(gemm("o_proj", dt, T, h, heads * hd, L, m.o_bias));
  if (tp > 1) out.push_back(collective("attn_all_reduce", Collective::all_reduce, dt, tp, T * h * b, L));
  out.push_back(elementwise("post_attention_norm", dt, 5 * T * h, 3 * T * h * b, h * b, L));
  out.push_back(gemm("gate_up_proj", dt, T, 2 * inter, h, L));
  // SiLU(gate) * up: ~5 FLOPs per output element; reads two inputs, writes one.
  out.push_back(elementwise("silu_mul", dt, 5 * T * inter, 3 * T * inter * b, 0, L));
  out.push_back(gemm("down_proj", dt, T, h, inter, L));
  if (tp > 1) out.push_back(collective("mlp_all_reduce", Collective::all_reduce, dt, tp, T * h * b, L));

  out.push_back(elementwise("final_norm", dt, 4 * T * h, 2 * T * h * b, h * b, 1));
  const double logits = static_cast<double>(batch.logit_tokens);
  if (logits > 0) {
    out.push_back(gemm("lm_head", dt, logits, vocab, h, 1));
    if (tp > 1)
      out.push_back(collective("logits_all_gather", Collective::all_gather, dt, tp, logits * vocab * tp * b, 1));
  }
}

}  // namespace hetsim::models
