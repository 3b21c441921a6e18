// Dense decoder-only transformers, Llama-style (Llama and Qwen2 families: MHA or GQA, SwiGLU MLP,
// RoPE, RMSNorm) and GPT-style (GPT-2, GPT-3 and Megatron's GPT: learned absolute positions, GELU MLP
// h -> 4h -> h, LayerNorm, biases on every linear layer), under Megatron-LM parallelism (Shoeybi et
// al. 2019; Narayanan et al. SC'21; Korthikanti et al. 2022 for sequence parallelism and selective
// recompute): column-parallel QKV and gate/up (or fc1), row-parallel O and down (or fc2), each
// row-parallel output all-reduced (or reduce-scattered and all-gathered again with sequence
// parallelism); vocab-parallel embedding and LM head.
#include "models/graph_builder.hpp"
#include "models/mla_layer.hpp"
#include "models/moe_layer.hpp"
#include "models/op_factory.hpp"
#include "sim/core/error.hpp"

namespace hetsim::models {
namespace {
using namespace ops;  // NOLINT: the op constructors read as a vocabulary here

/// Dimensions of one device's shard.
struct Shard {
  double L, h, hd, heads, kv_heads, inter, vocab;
  Shard(const ModelSpec& m, int tp)
      : L(static_cast<double>(m.num_hidden_layers)),
        h(static_cast<double>(m.hidden_size)),
        hd(static_cast<double>(m.head_dim)),
        heads(static_cast<double>(m.num_attention_heads / tp)),
        kv_heads(static_cast<double>(m.kv_heads_per_device(tp))),
        inter(static_cast<double>(m.intermediate_size / tp)),
        vocab(static_cast<double>(m.vocab_size) / tp) {}
};

/// Norm FLOPs per element: RMSNorm squares, sums, scales by the rsqrt and multiplies by the weight
/// (~4); LayerNorm also sums for the mean, subtracts it and adds the bias (~7).
double norm_flops(const ModelSpec& m) { return m.norm_bias ? 7 : 4; }
/// Bytes of one norm's parameters (weight, and bias for LayerNorm), in the activation dtype.
double norm_weight_bytes(const ModelSpec& m, double ba) { return static_cast<double>(m.norm_parameters()) * ba; }
/// The token embedding gather of T rows (vocab-parallel, summed by the first tensor-parallel
/// reduction); GPT-style models add a learned position row to each (1 FLOP per element, one more read).
Op embedding(const ModelSpec& m, DType act, double T, double h, double ba) {
  if (m.learned_positions) return elementwise("embedding", act, T * h, 3 * T * h * ba, 0, 1);
  return elementwise("embedding", act, 0, 2 * T * h * ba, 0, 1);
}
/// The MLP between its tensor-parallel collectives: gate_up_proj, silu_mul, down_proj (gated) or
/// fc1, gelu, fc2, emitted through `linear(name, n, k, bias)` for the GEMMs and `add` for the rest.
template <class Linear, class Add>
void mlp(const ModelSpec& m, DType act, double T, double h, double inter, double ba, Linear&& linear, Add&& add) {
  if (m.gated_mlp) {
    linear("gate_up_proj", 2 * inter, h, false);
    // SiLU(gate) * up: ~5 FLOPs per output element; reads two inputs, writes one.
    add(elementwise("silu_mul", act, 5 * T * inter, 3 * T * inter * ba, 0, 0));
    linear("down_proj", h, inter, false);
    return;
  }
  linear("fc1", inter, h, m.mlp_bias);
  // GELU, tanh form (GPT-2's gelu_new): ~8 FLOPs per element (cube, two multiply-adds, tanh, two
  // multiplies); reads one input, writes one output.
  add(elementwise("gelu", act, 8 * T * inter, 2 * T * inter * ba, 0, 0));
  linear("fc2", h, inter, m.mlp_bias);
}

/// The tensor-parallel reduction after a row-parallel GEMM: an all-reduce, or with sequence
/// parallelism a reduce-scatter (the all-gather before the next column-parallel GEMM is added by
/// the caller). `weight_elems`, if given, gets the op's weight count (0) beside it.
void tp_reduce(std::vector<Op>& out, std::vector<double>* weight_elems, std::string_view name, const ParallelPlan& p,
               DType dt, double payload, double repeat) {
  if (p.tp <= 1 || repeat <= 0) return;
  out.push_back(collective(name, p.sp ? Collective::reduce_scatter : Collective::all_reduce, dt, p.tp, payload, repeat));
  if (weight_elems) weight_elems->push_back(0);
}
void tp_gather(std::vector<Op>& out, std::vector<double>* weight_elems, std::string_view name, const ParallelPlan& p,
               DType dt, double payload, double repeat) {
  if (p.tp <= 1 || !p.sp || repeat <= 0) return;
  out.push_back(collective(name, Collective::all_gather, dt, p.tp, payload, repeat));
  if (weight_elems) weight_elems->push_back(0);
}

/// Qwen3's per-head RMSNorm of the queries and keys (q_norm, k_norm), one weight of head_dim each.
Op qk_norm(const ModelSpec& m, double T, double heads, double kv_heads, double ba, double repeat) {
  const double elems = T * (heads + kv_heads) * static_cast<double>(m.head_dim);
  return elementwise("qk_norm", m.precision.activations, norm_flops(m) * elems, 2 * elems * ba,
                     2.0 * static_cast<double>(m.head_dim) * ba, repeat);
}
/// Width of each head's attention output: head_dim, or MLA's v_head_dim.
double value_head_dim(const ModelSpec& m) {
  return static_cast<double>(m.mla.enabled() ? m.mla.v_head_dim : m.head_dim);
}
/// Weight elements of one MLA projection op on one rank (mla_projection_ops' names): the down
/// projections to the latents and the RoPE key are replicated over tp, the up projections split by
/// heads; 0 for the rest.
double mla_weight_elements(const ModelSpec& m, int tp, std::string_view name) {
  const MlaSpec& mla = m.mla;
  const double h = static_cast<double>(m.hidden_size), heads = static_cast<double>(m.num_attention_heads / tp);
  const double ql = static_cast<double>(mla.q_lora_rank), kvl = static_cast<double>(mla.kv_lora_rank);
  if (name == "qkv_a_proj") return h * (ql + kvl + static_cast<double>(mla.qk_rope_head_dim));
  if (name == "q_b_proj") return (ql > 0 ? ql : h) * heads * static_cast<double>(mla.qk_head_dim());
  if (name == "kv_b_proj") return kvl * heads * static_cast<double>(mla.qk_nope_head_dim + mla.v_head_dim);
  return 0;
}
/// Weight elements of a routed-expert MoE layer's op on one rank (whose gradients its weight
/// gradient accumulates): the router's, the rank's experts' (E / ep of them, split in width over
/// tp without expert parallelism) and the shared experts' (split over tp); 0 for the rest.
double moe_weight_elements(const ModelSpec& m, const ParallelPlan& p, std::string_view name) {
  const double h = static_cast<double>(m.hidden_size), E = static_cast<double>(m.moe.experts);
  const double local = E / p.ep, inter = static_cast<double>(m.moe.intermediate) / p.expert_tp();
  if (name == "moe_router") return E * h;
  if (name == "experts_gate_up") return local * h * 2 * inter;
  if (name == "experts_down") return local * inter * h;
  const double shared = static_cast<double>(m.moe.shared_experts * m.moe.shared_intermediate) / p.tp;
  if (name == "shared_experts_gate_up") return h * 2 * shared;
  if (name == "shared_experts_down") return shared * h;
  return 0;
}

class DenseTransformer final : public GraphBuilder {
 public:
  // Dtypes (models/precision.hpp): the decoder's linear layers store weights in precision.weights
  // and multiply in precision.gemm; embedding, LM head, norms, elementwise ops and attention math
  // run in precision.activations (vLLM quantizes every Linear but lm_head); cached K/V are
  // precision.kv; tensor/sequence/context-parallel collectives carry precision.comm.
  void serving_step(const ModelSpec& m, const BatchShape& batch, const ParallelPlan& p, std::vector<Op>& out) const override {
    out.clear();
    if (batch.empty()) return;
    const Precision& pr = m.precision;
    const DType act = pr.activations, mm = pr.gemm;
    const Bytes by(pr);
    const Shard s(m, p.tp);
    const double L = s.L, h = s.h, hd = s.hd, heads = s.heads, kv_heads = s.kv_heads, inter = s.inter;
    const double ba = by.a, bw = by.w, bc = by.c;
    // Attention data parallelism (DP attention with wide EP): each of the instance's dp ranks runs
    // its share of the batch through everything but the routed experts; the pricer caches by the
    // batch's token and logit counts, so the share follows from those alone.
    const auto share = [&p](std::int64_t n) { return static_cast<double>((n + p.dp - 1) / p.dp); };
    const double T = share(batch.tokens());
    const int tp = p.tp;

    out.push_back(embedding(m, act, T, h, ba));
    // Norm (norm_flops per element); fused residual add.
    out.push_back(elementwise("input_norm", act, norm_flops(m) * T * h, 3 * T * h * ba, norm_weight_bytes(m, ba), L));
    if (m.mla.enabled()) {
      mla_projection_ops(m, T, tp, L, out);
    } else {
      out.push_back(gemm("qkv_proj", mm, bw, ba, T, (heads + 2 * kv_heads) * hd, h, L, m.qkv_bias));
      if (m.qk_norm) out.push_back(qk_norm(m, T, heads, kv_heads, ba, L));
      // RoPE rotates q and k in place: ~3 FLOPs per element, read + write. Learned positions were
      // added in the embedding instead.
      const double rope_elems = T * (heads + kv_heads) * hd;
      if (!m.learned_positions) out.push_back(elementwise("rope", act, 3 * rope_elems, 2 * rope_elems * ba, 0, L));
    }

    serving_attention(m, batch, p, out);
    out.push_back(gemm("o_proj", mm, bw, ba, T, h, heads * value_head_dim(m), L, m.o_bias));
    if (tp > 1) out.push_back(collective("attn_all_reduce", Collective::all_reduce, pr.comm, tp, T * h * bc, L));
    out.push_back(elementwise("post_attention_norm", act, (norm_flops(m) + 1) * T * h, 3 * T * h * ba,
                              norm_weight_bytes(m, ba), L));
    // MoE models: the first moe.dense_layers layers have a dense MLP, the rest an MoE.
    const double dense_layers = m.moe.enabled() ? static_cast<double>(m.moe.dense_layers) : L;
    auto serving_linear = [&](std::string_view name, double n, double k, bool bias) {
      out.push_back(gemm(name, mm, bw, ba, T, n, k, dense_layers, bias));
    };
    if (dense_layers > 0)
      mlp(m, act, T, h, inter, ba, serving_linear, [&](Op op) {
        op.repeat = dense_layers;
        out.push_back(op);
      });
    if (m.moe.enabled()) moe_mlp_ops(m, T, p, L - dense_layers, out);
    if (tp > 1) out.push_back(collective("mlp_all_reduce", Collective::all_reduce, pr.comm, tp, T * h * bc, L));

    out.push_back(elementwise("final_norm", act, norm_flops(m) * T * h, 2 * T * h * ba, norm_weight_bytes(m, ba), 1));
    const double logits = share(batch.logit_tokens);
    if (logits > 0) {
      out.push_back(gemm("lm_head", act, m.lm_head_bytes_per_element(), ba, logits, s.vocab, h, 1));  // 16-bit unless weight_quant.lm_head
      if (tp > 1)
        out.push_back(
            collective("logits_all_gather", Collective::all_gather, pr.comm, tp, logits * s.vocab * tp * bc, 1));
    }
  }

  void serving_attention(const ModelSpec& m, const BatchShape& whole, const ParallelPlan& p, std::vector<Op>& out) const override {
    BatchShape part;  // one attention data-parallel rank's sequences (no copy on the common path)
    if (p.dp > 1) part = whole.share(p.dp);
    const BatchShape& batch = p.dp > 1 ? part : whole;
    if (m.mla.enabled()) {
      mla_attention_ops(m, batch, p.tp, out);
      return;
    }
    const DType act = m.precision.activations;
    const Bytes by(m.precision);
    const Shard s(m, p.tp);
    const double L = s.L, hd = s.hd, heads = s.heads, kv_heads = s.kv_heads, ba = by.a, bkv = by.kv;
    // Q and O are activations; the K/V read from and written to the cache are in the KV dtype (an
    // FP8 cache halves them; the kernel dequantizes and computes in the activation dtype).
    // A quantized cache (kv_quant) costs dequant_flops per K/V element the kernel reads.
    const double dequant = m.precision.kv_quant.bits > 0 ? m.precision.kv_quant.dequant_flops * 2 * kv_heads * hd : 0.0;
    if (batch.prefill_tokens > 0) {
      // Causal attention over each chunk and its cached context: QK^T and PV are 2 FLOPs per
      // multiply-add each, per head and head dim (FlashAttention's count). Bytes at the I/O lower
      // bound: read Q, write O, read K and V of every attended token once, write the chunk's new K and V.
      const double tokens = static_cast<double>(batch.prefill_tokens);
      out.push_back(attention("attention_prefill", OpClass::attention_prefill, act,
                              4 * hd * heads * batch.prefill_attn_pairs + dequant * batch.prefill_kv_read_tokens,
                              2 * tokens * heads * hd * ba, 2 * kv_heads * hd * bkv * (batch.prefill_kv_read_tokens + tokens), L));
      out.back().units = static_cast<double>(batch.prefill_chunks) * heads;
    }
    if (batch.decode_seqs > 0) {
      // One query per sequence against its whole context: memory-bound on the KV read.
      // Verified draft tokens (speculative decoding) are extra queries against the same context:
      // their pairs add FLOPs, their K/V are written, the context is still read once.
      const double queries = static_cast<double>(batch.decode_seqs + batch.draft_tokens);
      out.push_back(attention("attention_decode", OpClass::attention_decode, act,
                              4 * hd * heads * (batch.decode_context_tokens + batch.draft_attn_pairs) +
                                  dequant * batch.decode_context_tokens,
                              2 * queries * heads * hd * ba, 2 * kv_heads * hd * bkv * (batch.decode_context_tokens + queries), L));
    }
  }

  void training_forward(const ModelSpec& m, const TrainingShape& t, const ParallelPlan& p, std::vector<Op>& out) const override {
    forward(m, t, p, out, nullptr);
  }

  void training_backward(const ModelSpec& m, const TrainingShape& t, const ParallelPlan& p, std::vector<Op>& out) const override {
    std::vector<Op> fwd;
    ForwardDetail detail;
    forward(m, t, p, fwd, &detail);
    const std::vector<double>& weight_elems = detail.weight_elems;
    out.clear();
    // Recompute first: the decoder layers' forward (full; Megatron checkpoints the transformer
    // layers only, not the embedding or the LM head), or only the selected modules (selective: the
    // attention core by default, Korthikanti et al. 2022), whose outputs are the ones not kept. Full recompute of fewer layers
    // than the stage has (Megatron's --recompute-method block --recompute-num-layers) recomputes
    // that many. FSDP's per-layer parameter gather for backward serves the recompute as well.
    const double L = stage_layers(m, p, t);
    const double recomputed = t.recompute_layers < 0 ? L : std::min(L, static_cast<double>(t.recompute_layers));
    for (std::size_t i = detail.layer_begin; i < detail.layer_end; ++i) {
      const Op& op = fwd[i];
      if (std::string_view(op.name).starts_with("zero3_")) continue;
      if (t.recompute == TrainingShape::Recompute::full && recomputed > 0) {
        Op r = renamed(op, "_recompute");
        r.repeat = op.repeat * recomputed / L;
        out.push_back(r);
      } else if (t.recompute == TrainingShape::Recompute::selective && recomputes(t.recompute_modules, op.name, op.cls)) {
        out.push_back(renamed(op, "_recompute"));
      }
    }
    const double grad_b = bytes_per_element(t.grad_dtype);
    for (std::size_t i = fwd.size(); i-- > 0;) {
      const Op& f = fwd[i];
      switch (f.cls) {
        case OpClass::gemm: {
          // Y = X W (m x k times k x n): dX = dY W^T and dW = X^T dY, each 2mnk FLOPs, in the
          // forward's math dtype (Transformer Engine runs all three FP8 GEMMs in FP8).
          Op dgrad = renamed(f, "_dgrad");
          dgrad.weights = f.weights;  // reads W; reads dY and writes dX (same sizes as Y and X)
          out.push_back(dgrad);
          Op wgrad = renamed(f, "_wgrad");
          wgrad.weights.bytes = 0;
          // Reads X and dY, accumulates dW in the gradient dtype (read + write).
          wgrad.activations.bytes = f.activations.bytes + 2 * weight_elems[i] * grad_b;
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
    const int ways = p.weight_replicas();
    // The routed experts under expert parallelism reduce over their expert-data-parallel ranks only
    // (folded over tp, those can be more than the dense parameters' dp x cp).
    const double experts = p.ep > 1 ? stage_expert_parameters(m, p, t) : 0;
    const int expert_ways = p.expert_replicas();
    if (ways <= 1 && (experts <= 0 || expert_ways <= 1)) return;
    const double params = stage_parameters(m, p, t) - experts;
    const double grads = params * bytes_per_element(t.grad_dtype);
    if (experts > 0 && expert_ways > 1)
      out.push_back(collective(p.zero == 0 ? "dp_expert_grad_all_reduce" : "dp_expert_grad_reduce_scatter",
                               p.zero == 0 ? Collective::all_reduce : Collective::reduce_scatter, t.grad_dtype,
                               expert_ways, experts * bytes_per_element(t.grad_dtype), 1));
    if (experts > 0 && expert_ways > 1 && p.zero >= 1 && p.zero < 3)
      out.push_back(collective("dp_expert_param_all_gather", Collective::all_gather, m.precision.weights, expert_ways,
                               experts * m.precision.weight_bytes_per_element(), 1));
    if (ways <= 1) return;
    if (p.zero == 0) {
      out.push_back(collective("dp_grad_all_reduce", Collective::all_reduce, t.grad_dtype, ways, grads, 1));
      return;
    }
    // ZeRO: each rank keeps 1/(dp x cp) of the reduced gradients (reduce-scatter); stages 1 and 2 then
    // gather the updated parameters (stage 3 gathers them layer by layer inside the passes), as
    // stored (precision.weights for the linear layers).
    out.push_back(collective("dp_grad_reduce_scatter", Collective::reduce_scatter, t.grad_dtype, ways, grads, 1));
    if (p.zero < 3)
      out.push_back(collective("dp_param_all_gather", Collective::all_gather, m.precision.weights, ways,
                               params * stored_bytes_per_parameter(m), 1));
  }

  void optimizer_step(const ModelSpec& m, const TrainingShape& t, const ParallelPlan& p, std::vector<Op>& out) const override {
    out.clear();
    // Adam with fp32 master weights, one fused multi-tensor kernel: per parameter it reads the
    // master weight, the fp32 gradient, m and v (16 B with fp32 moments), writes master, m and v (12 B) and the
    // stored copy the passes use (2 B for bf16; with FP8 GEMMs on BF16 weights, as Transformer
    // Engine trains, still the bf16 copy); ~12 FLOPs (moments, bias correction, sqrt, divide, decay).
    // ZeRO >= 1: the rank updates its shard of the dense parameters (over dp x cp) and of its
    // routed experts (over their expert-data-parallel ranks).
    const double experts = p.ep > 1 ? stage_expert_parameters(m, p, t) : 0;
    const double dense = stage_parameters(m, p, t) - experts;
    const double params = p.zero >= 1 ? dense / p.weight_replicas() + experts / p.expert_replicas() : dense + experts;
    // Moments in bf16 (DeepSeek-V3) read and write 2 bytes each instead of 4.
    const double moments = 2 * bytes_per_element(t.moment_dtype);
    out.push_back(elementwise("adam", DType::fp32, 12 * params, (12 + 2 * moments + stored_bytes_per_parameter(m)) * params, 0, 1));
  }

 private:
  /// What the backward pass needs to know about the forward's ops beyond the ops themselves.
  struct ForwardDetail {
    std::vector<double> weight_elems;  ///< per op: weight elements (0 but for GEMMs), whose gradients it accumulates
    std::size_t layer_begin = 0, layer_end = 0;  ///< the decoder layers' ops: [begin, end)
  };

  /// The forward pass; with `detail`, also the weight elements of each op and where the decoder
  /// layers' ops are.
  static void forward(const ModelSpec& m, const TrainingShape& t, const ParallelPlan& p, std::vector<Op>& out,
                      ForwardDetail* detail) {
    out.clear();
    std::vector<double>* weight_elems = detail ? &detail->weight_elems : nullptr;
    const Precision& pr = m.precision;
    const DType act = pr.activations, mm = pr.gemm, comm = pr.comm;
    const Bytes by(pr);
    const Shard s(m, p.tp);
    const double h = s.h, hd = s.hd, heads = s.heads, kv_heads = s.kv_heads, inter = s.inter;
    const double ba = by.a, bw = by.w, bc = by.c;
    const double L = stage_layers(m, p, t);
    const double seqs = static_cast<double>(t.micro_batch);
    const double S = static_cast<double>(t.seq_len);
    const double T = seqs * S / p.cp;            // tokens this rank's GEMMs see
    const double Tn = p.sp ? T / p.tp : T;      // tokens of the norms / elementwise ops (sequence-parallel)
    const bool first = t.stage == 0, last = t.stage == model_stages(p) - 1;
    auto add = [&](Op op, double elems = 0) {
      out.push_back(op);
      if (weight_elems) weight_elems->push_back(elems);
    };
    // A linear layer of the decoder (quantized) or the LM head (not): the op and its weight count.
    auto linear = [&](std::string_view name, double n, double k, double repeat, bool bias = false) {
      add(gemm(name, mm, bw, ba, T, n, k, repeat, bias), gemm_weight_elements(n, k, bias));
    };

    if (first) add(embedding(m, act, T, h, ba));
    if (detail) detail->layer_begin = out.size();
    if (p.zero >= 3 && p.weight_replicas() > 1)  // FSDP: gather each layer's parameter shard before using it, as stored
      add(collective("zero3_param_all_gather", Collective::all_gather, pr.weights, p.weight_replicas(), m.layer_weight_bytes() / p.tp,
                     L));
    add(elementwise("input_norm", act, norm_flops(m) * Tn * h, 3 * Tn * h * ba, norm_weight_bytes(m, ba), L));
    tp_gather(out, weight_elems, "attn_sp_all_gather", p, comm, T * h * bc, L);
    // Query/key and value widths of each head's attention, and the K/V the core reads per token:
    // GQA's kv_heads x head_dim each, MLA's K and V expanded per head from the latent.
    double qk_width = hd, v_width = hd, kv_width = 2 * kv_heads * hd;
    if (m.mla.enabled()) {
      // MLA in training (Megatron-Core's MLASelfAttention): no cache, so every token's latent is
      // expanded to per-head K and V by kv_b_proj and attention runs as ordinary attention.
      qk_width = static_cast<double>(m.mla.qk_head_dim());
      v_width = static_cast<double>(m.mla.v_head_dim);
      kv_width = heads * (qk_width + v_width);
      std::vector<Op> projections;
      mla_projection_ops(m, T, p.tp, L, projections);
      for (const Op& op : projections) add(op, mla_weight_elements(m, p.tp, op.name));
    } else {
      linear("qkv_proj", (heads + 2 * kv_heads) * hd, h, L, m.qkv_bias);
      if (m.qk_norm) add(qk_norm(m, T, heads, kv_heads, ba, L));
      const double rope_elems = T * (heads + kv_heads) * hd;
      if (!m.learned_positions) add(elementwise("rope", act, 3 * rope_elems, 2 * rope_elems * ba, 0, L));
    }
    if (p.cp > 1)  // context parallelism: every rank attends to the K/V of the whole sequence (ring attention)
      add(collective("cp_kv_all_gather", Collective::all_gather, comm, p.cp, seqs * S * kv_width * bc, L));
    // Causal self-attention over whole sequences; with load-balanced CP each rank gets 1/cp of the
    // pairs. Training keeps no KV cache: K and V are activations.
    add(attention("attention", OpClass::attention_prefill, act,
                  2 * (qk_width + v_width) * heads * seqs * S * (S + 1) / 2 / p.cp, T * heads * (qk_width + v_width) * ba,
                  kv_width * ba * (seqs * S + T), L));
    out.back().units = seqs * heads;
    linear("o_proj", h, heads * v_width, L, m.o_bias);
    tp_reduce(out, weight_elems, "attn_tp_reduce", p, comm, T * h * bc, L);
    add(elementwise("post_attention_norm", act, (norm_flops(m) + 1) * Tn * h, 3 * Tn * h * ba, norm_weight_bytes(m, ba),
                    L));
    // An MoE model's leading dense layers (DeepSeek's first_k_dense_replace) in this stage's range
    // run a dense MLP; the rest route to experts.
    const double dense = stage_dense_layers(m, p, t);
    const double moe_layers = m.moe.enabled() ? L - dense : 0;
    // With the experts folded over the tensor-parallel ranks, the routed experts need no tensor-
    // parallel gather or reduction: only the dense layers' MLPs and the shared experts (split over
    // tp as a dense MLP is) run on the gathered sequence.
    const bool fold = p.experts_fold_tp();
    const double tp_mlp_layers = fold ? dense + (m.moe.shared_experts > 0 ? moe_layers : 0) : L;
    tp_gather(out, weight_elems, "mlp_sp_all_gather", p, comm, T * h * bc, tp_mlp_layers);
    auto dense_linear = [&](std::string_view name, double n, double k, bool bias) { linear(name, n, k, dense, bias); };
    if (dense > 0)
      mlp(m, act, T, h, inter, ba, dense_linear, [&](Op op) {
        op.repeat = dense;
        add(op);
      });
    if (moe_layers > 0) {
      // Routed experts (Megatron-Core's MoE layer): under expert parallelism the rank's tokens go
      // to the ranks of their experts and back by all-to-all over the ep group (the serving
      // builder's wide-EP form, with the ep group as the ranks that exchange tokens). Folded over
      // tp, a rank routes its sequence-parallel share of the tokens.
      ParallelPlan experts = p;
      experts.dp = p.ep;
      if (fold) experts.tp = 1;
      std::vector<Op> moe;
      moe_mlp_ops(m, fold ? Tn : T, experts, moe_layers, moe, !fold);
      if (fold) shared_expert_ops(m, T, p.tp, moe_layers, moe);
      for (Op& op : moe) {
        if (t.deepep && op.collective == Collective::all_to_all)
          op.routed = routed_rows(m);
        add(op, moe_weight_elements(m, p, op.name));
      }
    }
    tp_reduce(out, weight_elems, "mlp_tp_reduce", p, comm, T * h * bc, tp_mlp_layers);
    if (detail) detail->layer_end = out.size();
    if (last) {
      add(elementwise("final_norm", act, norm_flops(m) * Tn * h, 2 * Tn * h * ba, norm_weight_bytes(m, ba), 1));
      tp_gather(out, weight_elems, "head_sp_all_gather", p, comm, T * h * bc, 1);
      add(gemm("lm_head", act, m.lm_head_bytes_per_element(), ba, T, s.vocab, h, 1), gemm_weight_elements(s.vocab, h));
      // Vocab-parallel cross-entropy (Megatron): softmax over the local logits, with all-reduces
      // of the per-token max and sum (2 values per token) instead of gathering the logits.
      add(elementwise("cross_entropy", DType::fp32, 5 * T * s.vocab, 2 * T * s.vocab * ba, 0, 1));
      if (p.tp > 1) add(collective("loss_all_reduce", Collective::all_reduce, DType::fp32, p.tp, 2 * T * 4, 1));
    }
  }

  /// Mean bytes per parameter as stored (exactly the byte size for a uniform precision).
  static double stored_bytes_per_parameter(const ModelSpec& m) {
    return m.precision.weights == m.precision.activations && m.precision.weight_quant.bits == 0
               ? bytes_per_element(m.precision.weights)
                                                          : m.weight_bytes() / static_cast<double>(m.parameters());
  }
  static Op renamed(const Op& op, const char* suffix) {
    Op r = op;
    r.name = intern(std::string(op.name) + suffix);
    return r;
  }
};

}  // namespace
HETSIM_REGISTER_GRAPH_BUILDER(DenseTransformer, "llama");
HETSIM_REGISTER_GRAPH_BUILDER(DenseTransformer, "qwen2");
// GPT-style: HF GPT-2's model_type, under which GPT-3 and Megatron's GPT configurations are given too.
HETSIM_REGISTER_GRAPH_BUILDER(DenseTransformer, "gpt2");
// Qwen3 adds per-head q/k norms; the MoE and MLA families swap in the layers of models/moe_layer.cpp
// and models/mla_layer.cpp, for serving and training alike.
HETSIM_REGISTER_GRAPH_BUILDER(DenseTransformer, "qwen3");
HETSIM_REGISTER_GRAPH_BUILDER(DenseTransformer, "mixtral");
HETSIM_REGISTER_GRAPH_BUILDER(DenseTransformer, "qwen3_moe");
HETSIM_REGISTER_GRAPH_BUILDER(DenseTransformer, "deepseek_v3");
}  // namespace hetsim::models
