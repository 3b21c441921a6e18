// Dense decoder-only transformers (Llama and Qwen2 families: MHA or GQA, SwiGLU MLP, RoPE, RMSNorm)
// under Megatron-LM parallelism (Shoeybi et al. 2019; Narayanan et al. SC'21; Korthikanti et al.
// 2022 for sequence parallelism and selective recompute): column-parallel QKV and gate/up,
// row-parallel O and down, each row-parallel output all-reduced (or reduce-scattered and
// all-gathered again with sequence parallelism); vocab-parallel embedding and LM head.
#include <set>

#include "models/graph_builder.hpp"

namespace hetsim::models {
namespace {

/// Stable storage for derived op names ("o_proj" -> "o_proj_dgrad"); names are few and static.
std::string_view intern(std::string name) {
  static std::set<std::string> names;
  return *names.insert(std::move(name)).first;
}

Op gemm(std::string_view name, DType dt, double m, double n, double k, double repeat, bool bias = false) {
  const double b = bytes_per_element(dt);
  Op op;
  op.name = name;
  op.cls = OpClass::gemm;
  op.dtype = dt;
  op.flops = 2 * m * n * k + (bias ? m * n : 0);
  op.weights.bytes = (k * n + (bias ? n : 0)) * b;
  op.activations.bytes = (m * k + m * n) * b;
  op.repeat = repeat;
  return op;
}

Op elementwise(std::string_view name, DType dt, double flops, double activation_bytes, double weight_bytes, double repeat) {
  Op op;
  op.name = name;
  op.cls = OpClass::elementwise;
  op.dtype = dt;
  op.flops = flops;
  op.activations.bytes = activation_bytes;
  op.weights.bytes = weight_bytes;
  op.repeat = repeat;
  return op;
}

Op attention(std::string_view name, OpClass cls, DType dt, double flops, double activation_bytes, double kv_bytes,
             double repeat) {
  Op op;
  op.name = name;
  op.cls = cls;
  op.dtype = dt;
  op.flops = flops;
  op.activations.bytes = activation_bytes;
  op.kv.bytes = kv_bytes;
  op.repeat = repeat;
  return op;
}

Op collective(std::string_view name, Collective kind, DType dt, int group, double payload_bytes, double repeat) {
  Op op;
  op.name = name;
  op.cls = OpClass::collective;
  op.dtype = dt;
  op.collective = kind;
  op.group = group;
  op.comm_bytes = payload_bytes;
  op.repeat = repeat;
  return op;
}

/// Dimensions of one device's shard.
struct Shard {
  double L, h, hd, heads, kv_heads, inter, vocab, b;
  Shard(const ModelSpec& m, int tp)
      : L(static_cast<double>(m.num_hidden_layers)),
        h(static_cast<double>(m.hidden_size)),
        hd(static_cast<double>(m.head_dim)),
        heads(static_cast<double>(m.num_attention_heads / tp)),
        kv_heads(static_cast<double>(m.kv_heads_per_device(tp))),
        inter(static_cast<double>(m.intermediate_size / tp)),
        vocab(static_cast<double>(m.vocab_size) / tp),
        b(bytes_per_element(m.dtype)) {}
};

/// The tensor-parallel reduction after a row-parallel GEMM: an all-reduce, or with sequence
/// parallelism a reduce-scatter (the all-gather before the next column-parallel GEMM is added by
/// the caller).
void tp_reduce(std::vector<Op>& out, std::string_view name, const ParallelPlan& p, DType dt, double payload, double repeat) {
  if (p.tp <= 1) return;
  out.push_back(collective(name, p.sp ? Collective::reduce_scatter : Collective::all_reduce, dt, p.tp, payload, repeat));
}
void tp_gather(std::vector<Op>& out, std::string_view name, const ParallelPlan& p, DType dt, double payload, double repeat) {
  if (p.tp > 1 && p.sp) out.push_back(collective(name, Collective::all_gather, dt, p.tp, payload, repeat));
}

/// Layers of pipeline stage `stage` (the last stage takes the remainder).
double stage_layers(const ModelSpec& m, const ParallelPlan& p, int stage) {
  const std::int64_t per = m.num_hidden_layers / p.pp;
  return static_cast<double>(stage == p.pp - 1 ? m.num_hidden_layers - per * (p.pp - 1) : per);
}

class DenseTransformer final : public GraphBuilder {
 public:
  void serving_step(const ModelSpec& m, const BatchShape& batch, const ParallelPlan& p, std::vector<Op>& out) const override {
    out.clear();
    if (batch.empty()) return;
    const DType dt = m.dtype;
    const Shard s(m, p.tp);
    const double L = s.L, h = s.h, hd = s.hd, heads = s.heads, kv_heads = s.kv_heads, inter = s.inter, b = s.b;
    const double T = static_cast<double>(batch.tokens());
    const int tp = p.tp;

    // Embedding lookup: gather T rows (vocab-parallel, then summed by the first all-reduce).
    out.push_back(elementwise("embedding", dt, 0, 2 * T * h * b, 0, 1));
    // RMSNorm: square, mean, rsqrt-scale, weight multiply (~4 FLOPs/element); fused residual add.
    out.push_back(elementwise("input_norm", dt, 4 * T * h, 3 * T * h * b, h * b, L));
    out.push_back(gemm("qkv_proj", dt, T, (heads + 2 * kv_heads) * hd, h, L, m.qkv_bias));
    // RoPE rotates q and k in place: ~3 FLOPs per element, read + write.
    const double rope_elems = T * (heads + kv_heads) * hd;
    out.push_back(elementwise("rope", dt, 3 * rope_elems, 2 * rope_elems * b, 0, L));

    serving_attention(m, batch, p, out);
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
      out.push_back(gemm("lm_head", dt, logits, s.vocab, h, 1));
      if (tp > 1) out.push_back(collective("logits_all_gather", Collective::all_gather, dt, tp, logits * s.vocab * tp * b, 1));
    }
  }

  void serving_attention(const ModelSpec& m, const BatchShape& batch, const ParallelPlan& p, std::vector<Op>& out) const override {
    const DType dt = m.dtype;
    const Shard s(m, p.tp);
    const double L = s.L, hd = s.hd, heads = s.heads, kv_heads = s.kv_heads, b = s.b;
    if (batch.prefill_tokens > 0) {
      // Causal attention over each chunk and its cached context: QK^T and PV are 2 FLOPs per
      // multiply-add each, per head and head dim (FlashAttention's count). Bytes at the I/O lower
      // bound: read Q, write O, read K and V of every attended token once, write the chunk's new K and V.
      const double tokens = static_cast<double>(batch.prefill_tokens);
      out.push_back(attention("attention_prefill", OpClass::attention_prefill, dt, 4 * hd * heads * batch.prefill_attn_pairs,
                              2 * tokens * heads * hd * b, 2 * kv_heads * hd * b * (batch.prefill_kv_read_tokens + tokens), L));
    }
    if (batch.decode_seqs > 0) {
      // One query per sequence against its whole context: memory-bound on the KV read.
      const double seqs = static_cast<double>(batch.decode_seqs);
      out.push_back(attention("attention_decode", OpClass::attention_decode, dt, 4 * hd * heads * batch.decode_context_tokens,
                              2 * seqs * heads * hd * b, 2 * kv_heads * hd * b * (batch.decode_context_tokens + seqs), L));
    }
  }

  void training_forward(const ModelSpec& m, const TrainingShape& t, const ParallelPlan& p, std::vector<Op>& out) const override {
    out.clear();
    const DType dt = m.dtype;
    const Shard s(m, p.tp);
    const double h = s.h, hd = s.hd, heads = s.heads, kv_heads = s.kv_heads, inter = s.inter, b = s.b;
    const double L = stage_layers(m, p, t.stage);
    const double seqs = static_cast<double>(t.micro_batch);
    const double S = static_cast<double>(t.seq_len);
    const double T = seqs * S / p.cp;            // tokens this rank's GEMMs see
    const double Tn = p.sp ? T / p.tp : T;      // tokens of the norms / elementwise ops (sequence-parallel)
    const bool first = t.stage == 0, last = t.stage == p.pp - 1;

    if (first) out.push_back(elementwise("embedding", dt, 0, 2 * T * h * b, 0, 1));
    if (p.zero >= 3 && p.dp > 1)  // FSDP: gather each layer's parameter shard before using it
      out.push_back(collective("zero3_param_all_gather", Collective::all_gather, dt, p.dp,
                               static_cast<double>(m.layer_parameters()) / p.tp * b, L));
    out.push_back(elementwise("input_norm", dt, 4 * Tn * h, 3 * Tn * h * b, h * b, L));
    tp_gather(out, "attn_sp_all_gather", p, dt, T * h * b, L);
    out.push_back(gemm("qkv_proj", dt, T, (heads + 2 * kv_heads) * hd, h, L, m.qkv_bias));
    const double rope_elems = T * (heads + kv_heads) * hd;
    out.push_back(elementwise("rope", dt, 3 * rope_elems, 2 * rope_elems * b, 0, L));
    if (p.cp > 1)  // context parallelism: every rank attends to the K/V of the whole sequence (ring attention)
      out.push_back(collective("cp_kv_all_gather", Collective::all_gather, dt, p.cp, 2 * seqs * S * kv_heads * hd * b, L));
    // Causal self-attention over whole sequences; with load-balanced CP each rank gets 1/cp of the pairs.
    out.push_back(attention("attention", OpClass::attention_prefill, dt, 4 * hd * heads * seqs * S * (S + 1) / 2 / p.cp,
                            2 * T * heads * hd * b, 2 * kv_heads * hd * b * (seqs * S + T), L));
    out.push_back(gemm("o_proj", dt, T, h, heads * hd, L, m.o_bias));
    tp_reduce(out, "attn_tp_reduce", p, dt, T * h * b, L);
    out.push_back(elementwise("post_attention_norm", dt, 5 * Tn * h, 3 * Tn * h * b, h * b, L));
    tp_gather(out, "mlp_sp_all_gather", p, dt, T * h * b, L);
    out.push_back(gemm("gate_up_proj", dt, T, 2 * inter, h, L));
    out.push_back(elementwise("silu_mul", dt, 5 * T * inter, 3 * T * inter * b, 0, L));
    out.push_back(gemm("down_proj", dt, T, h, inter, L));
    tp_reduce(out, "mlp_tp_reduce", p, dt, T * h * b, L);
    if (last) {
      out.push_back(elementwise("final_norm", dt, 4 * Tn * h, 2 * Tn * h * b, h * b, 1));
      tp_gather(out, "head_sp_all_gather", p, dt, T * h * b, 1);
      out.push_back(gemm("lm_head", dt, T, s.vocab, h, 1));
      // Vocab-parallel cross-entropy (Megatron): softmax over the local logits, with all-reduces
      // of the per-token max and sum (2 values per token) instead of gathering the logits.
      out.push_back(elementwise("cross_entropy", DType::fp32, 5 * T * s.vocab, 2 * T * s.vocab * b, 0, 1));
      if (p.tp > 1) out.push_back(collective("loss_all_reduce", Collective::all_reduce, DType::fp32, p.tp, 2 * T * 4, 1));
    }
  }

  void training_backward(const ModelSpec& m, const TrainingShape& t, const ParallelPlan& p, std::vector<Op>& out) const override {
    std::vector<Op> fwd;
    training_forward(m, t, p, fwd);
    out.clear();
    // Recompute first: the whole forward (full), or only the attention core (selective), whose
    // activations are the ones not kept (Korthikanti et al. 2022).
    for (const Op& op : fwd) {
      if (t.recompute == TrainingShape::Recompute::full && op.name != "cross_entropy" && op.name != "loss_all_reduce")
        out.push_back(renamed(op, "_recompute"));
      else if (t.recompute == TrainingShape::Recompute::selective && op.cls == OpClass::attention_prefill)
        out.push_back(renamed(op, "_recompute"));
    }
    const double grad_b = bytes_per_element(t.grad_dtype);
    for (auto it = fwd.rbegin(); it != fwd.rend(); ++it) {
      const Op& f = *it;
      switch (f.cls) {
        case OpClass::gemm: {
          // Y = X W (m x k times k x n): dX = dY W^T and dW = X^T dY, each 2mnk FLOPs.
          Op dgrad = renamed(f, "_dgrad");
          dgrad.weights = f.weights;  // reads W; reads dY and writes dX (same sizes as Y and X)
          out.push_back(dgrad);
          Op wgrad = renamed(f, "_wgrad");
          const double w_elems = f.weights.bytes / bytes_per_element(f.dtype);
          wgrad.weights.bytes = 0;
          // Reads X and dY, accumulates dW in the gradient dtype (read + write).
          wgrad.activations.bytes = f.activations.bytes + 2 * w_elems * grad_b;
          out.push_back(wgrad);
          break;
        }
        case OpClass::attention_prefill: {
          // FlashAttention backward: 5 matmuls against the forward's 2, and it rereads Q, K, V, O, dO.
          Op g = renamed(f, "_dgrad");
          g.flops = 2.5 * f.flops;
          g.activations.bytes = 2 * f.activations.bytes;
          g.kv.bytes = 2 * f.kv.bytes;
          out.push_back(g);
          break;
        }
        case OpClass::elementwise: {
          Op g = renamed(f, "_dgrad");
          g.flops = 2 * f.flops;
          g.activations.bytes = 1.5 * f.activations.bytes;
          g.weights.bytes = 0;
          out.push_back(g);
          break;
        }
        case OpClass::collective: {
          // Gradients retrace the forward's communication: the transpose of an all-gather is a
          // reduce-scatter and vice versa; all-reduces stay all-reduces.
          Op g = renamed(f, "_dgrad");
          if (f.collective == Collective::all_gather) g.collective = Collective::reduce_scatter;
          else if (f.collective == Collective::reduce_scatter) g.collective = Collective::all_gather;
          if (f.name == "zero3_param_all_gather") {
            g = f;  // FSDP gathers the parameters again for backward
            g.name = intern(std::string(f.name) + "_bwd");
          }
          out.push_back(g);
          break;
        }
        case OpClass::attention_decode: break;  // not part of training
      }
    }
  }

  void gradient_sync(const ModelSpec& m, const TrainingShape& t, const ParallelPlan& p, std::vector<Op>& out) const override {
    out.clear();
    if (p.dp <= 1) return;
    const double params = device_parameters(m, p);
    const double grads = params * bytes_per_element(t.grad_dtype);
    if (p.zero == 0) {
      out.push_back(collective("dp_grad_all_reduce", Collective::all_reduce, t.grad_dtype, p.dp, grads, 1));
      return;
    }
    // ZeRO: each rank keeps 1/dp of the reduced gradients (reduce-scatter); stages 1 and 2 then
    // gather the updated parameters (stage 3 gathers them layer by layer inside the passes).
    out.push_back(collective("dp_grad_reduce_scatter", Collective::reduce_scatter, t.grad_dtype, p.dp, grads, 1));
    if (p.zero < 3)
      out.push_back(collective("dp_param_all_gather", Collective::all_gather, m.dtype, p.dp,
                               params * bytes_per_element(m.dtype), 1));
  }

  void optimizer_step(const ModelSpec& m, const ParallelPlan& p, std::vector<Op>& out) const override {
    out.clear();
    // Adam with fp32 master weights, one fused multi-tensor kernel: per parameter it reads the
    // master weight, the fp32 gradient, m and v (16 B), writes master, m and v (12 B) and the
    // model-dtype copy (2 B for bf16); ~12 FLOPs (moments, bias correction, sqrt, divide, decay).
    const double params = device_parameters(m, p) / (p.zero >= 1 ? p.dp : 1);
    out.push_back(elementwise("adam", DType::fp32, 12 * params, (28 + bytes_per_element(m.dtype)) * params, 0, 1));
  }

 private:
  static Op renamed(const Op& op, const char* suffix) {
    Op r = op;
    r.name = intern(std::string(op.name) + suffix);
    return r;
  }
  /// Parameters one device of a model replica holds (tensor- and pipeline-split; embeddings and
  /// head counted on every stage's share for simplicity of the average).
  static double device_parameters(const ModelSpec& m, const ParallelPlan& p) {
    return static_cast<double>(m.parameters()) / (p.tp * p.pp);
  }
};

}  // namespace
HETSIM_REGISTER_GRAPH_BUILDER(DenseTransformer, "llama");
HETSIM_REGISTER_GRAPH_BUILDER(DenseTransformer, "qwen2");
}  // namespace hetsim::models
