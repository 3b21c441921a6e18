#include "sim/training/training_memory.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace hetsim::training {

ModelStates zero_bytes(double parameters, int dp, int zero_stage, const StateBytes& bytes) {
  if (zero_stage < 0 || zero_stage > 3)
    throw InputError(fmt::format("training memory: zero = {}: expected 0, 1, 2 or 3", zero_stage));
  if (dp < 1) throw InputError(fmt::format("training memory: dp = {}: expected at least 1", dp));
  if (!(parameters >= 0)) throw InputError(fmt::format("training memory: parameters = {}: expected >= 0", parameters));
  // ZeRO §5.1-5.3: stage 1 partitions the optimizer states (P_os), stage 2 the gradients too
  // (P_os+g), stage 3 the parameters too (P_os+g+p), each over the N_d data-parallel ranks.
  const double psi = parameters, nd = dp;
  ModelStates s;
  s.weights = bytes.weight * psi / (zero_stage >= 3 ? nd : 1);
  s.gradients = bytes.gradient * psi / (zero_stage >= 2 ? nd : 1);
  s.master_weights = bytes.master * psi / (zero_stage >= 1 ? nd : 1);
  s.optimizer_moments = bytes.moments * psi / (zero_stage >= 1 ? nd : 1);
  return s;
}

LayerShape LayerShape::of(const models::ModelSpec& m) {
  LayerShape l;
  l.hidden = static_cast<double>(m.hidden_size);
  l.intermediate = static_cast<double>(m.moe.enabled() ? m.moe.intermediate : m.intermediate_size);
  l.experts = static_cast<double>(m.moe.experts);
  l.experts_per_token = static_cast<double>(m.moe.experts_per_token);
  l.heads = static_cast<double>(m.num_attention_heads);
  l.kv_heads = static_cast<double>(m.num_key_value_heads);
  l.head_dim = static_cast<double>(m.head_dim);
  l.gated_mlp = m.hidden_act == "silu";
  if (m.moe.enabled()) {
    l.shared_width = static_cast<double>(m.moe.shared_experts * m.moe.shared_intermediate);
    l.dense_intermediate = static_cast<double>(m.intermediate_size);
  }
  if (m.mla.enabled()) {
    l.q_lora = static_cast<double>(m.mla.q_lora_rank);
    l.kv_lora = static_cast<double>(m.mla.kv_lora_rank);
    l.qk_dim = static_cast<double>(m.mla.qk_head_dim());
    l.v_dim = static_cast<double>(m.mla.v_head_dim);
    l.rope_dim = static_cast<double>(m.mla.qk_rope_head_dim);
  }
  return l;
}

LayerShape LayerShape::dense() const {
  LayerShape l = *this;
  if (experts <= 0) return l;  // already dense
  l.intermediate = dense_intermediate;
  l.experts = l.experts_per_token = l.shared_width = 0;
  return l;
}

LayerShape LayerShape::gpt(double hidden, double heads) {
  LayerShape l;
  l.hidden = hidden;
  l.intermediate = 4 * hidden;
  l.heads = heads;
  l.kv_heads = heads;
  l.head_dim = hidden / heads;
  l.gated_mlp = false;
  l.dropout = true;
  return l;
}

namespace {

/// The widths one tensor-parallel rank sees, per token.
struct RankWidths {
  double q;      ///< query width: heads/t x head_dim (MLA: x qk_dim)
  double k, v;   ///< K and V widths: KV heads/t x head_dim, replicated (>= 1 head) when t exceeds them (MLA: per head)
  double o;      ///< attention output width: heads/t x head_dim (MLA: x v_dim)
  double f;      ///< MLP inner width: f/t
  double heads;  ///< attention heads: a/t
  /// Width of the tensors of the replicated region (norms, the inputs of the column-parallel GEMMs,
  /// the dropout masks): h, or h/t when sequence parallelism splits them along the sequence.
  double r;
};
RankWidths rank_widths(const LayerShape& l, const ParallelPlan& plan) {
  const double t = plan.tp;
  const double r = plan.sp ? l.hidden / t : l.hidden, heads = l.heads / t;
  if (l.mla()) return {heads * l.qk_dim, heads * l.qk_dim, heads * l.v_dim, heads * l.v_dim, l.intermediate / t, heads, r};
  const double kv_heads = std::max(1.0, std::floor(l.kv_heads / t));  // as ModelSpec::kv_heads_per_device
  const double q = heads * l.head_dim, kv = kv_heads * l.head_dim;
  return {q, kv, kv, q, l.intermediate / t, heads, r};
}

/// Tokens of one microbatch on one rank: context parallelism gives each rank s/cp of every sequence.
double rank_tokens(double seq_len, double micro_batch, const ParallelPlan& plan) {
  return seq_len * micro_batch / plan.cp;
}

void check_activation_args(double seq_len, double micro_batch, const ParallelPlan& plan, double activation_bytes) {
  if (!(seq_len > 0)) throw InputError(fmt::format("training memory: seq_len = {}: expected > 0", seq_len));
  if (!(micro_batch >= 1))
    throw InputError(fmt::format("training memory: micro_batch = {}: expected >= 1", micro_batch));
  if (plan.tp < 1 || plan.cp < 1)
    throw InputError(fmt::format("training memory: tp = {}, cp = {}: expected degrees >= 1", plan.tp, plan.cp));
  if (!(activation_bytes > 0))
    throw InputError(fmt::format("training memory: activation bytes = {}: expected > 0", activation_bytes));
}

}  // namespace

double activation_bytes_per_layer(const LayerShape& layer, double seq_len, double micro_batch, const ParallelPlan& plan,
                                  Recompute recompute, double activation_bytes, unsigned modules) {
  check_activation_args(seq_len, micro_batch, plan, activation_bytes);
  // Korthikanti et al. 2022 §4.1-4.2, per token, generalised: each stored tensor is counted at its
  // width on this rank; `ab` bytes per element (their 2), dropout masks 1 byte per element.
  const RankWidths w = rank_widths(layer, plan);
  const double ab = activation_bytes;
  const double mask = layer.dropout ? 1.0 : 0.0;
  const double tokens = rank_tokens(seq_len, micro_batch, plan);
  using M = models::RecomputeModule;
  const auto dropped = [&](unsigned m) { return recompute == Recompute::selective && (modules & m) != 0; };

  // Full recompute keeps only each layer's input (their 2sbh; sequence-parallel: 2sbh/t).
  if (recompute == Recompute::full) return tokens * w.r * ab;

  // Elements kept per token, split into what an FP8 activation cache keeps in FP8 (the GEMMs' inputs
  // and the experts' SwiGLU inputs, at layer.fp8_cache_bytes when set) and everything else (at ab).
  double gemm_in = 0, other = 0;
  // Replicated region, split over t only with sequence parallelism (their 10sbh without SP):
  //   the two norms' inputs (4sbh), the QKV GEMM's input (2sbh), the MLP's first GEMM's input
  //   (2sbh), the attention and MLP dropout masks (sbh each, 1 byte). Recomputing the norms drops
  //   the two GEMM inputs, which are their outputs.
  other += 2 * w.r;
  if (!dropped(M::layernorm)) gemm_in += 2 * w.r;
  // Tensor-parallel region (their 24sbh/t): Q and K for QK^T (4sbh/t; K is kv wide under GQA),
  //   V (2sbh/t), the output projection's input (2sbh/t), and the MLP's inner tensors: GeLU's
  //   input and output (8sbh/t each with f = 4h), or SwiGLU's gate and up outputs and their
  //   product (three f-wide tensors; the product, or GeLU's output, is the next GEMM's input).
  const double gated = layer.gated_mlp ? 3 : 2;
  if (layer.experts > 0) {
    // MoE: each token's k experts keep their inner tensors (less SwiGLU's product with moe_act), and
    // the permuted copies of the token going into (a GEMM input) and coming out of its experts (k x
    // h each) and the router's logits are kept too; shared experts (DeepSeek) are a dense gated MLP
    // every token runs, split over t. Recomputing the whole MoE MLP keeps none of it.
    // Folded over tp (sequence parallel), a rank routes and keeps 1/t of the tokens; without
    // expert parallelism every tensor-parallel rank routes all of them and keeps the inner tensors
    // at its 1/t of each expert's width. With expert-TP e under expert parallelism a rank computes
    // the rows of its e-rank group (their gathered inputs, e x its own) at 1/e of the width.
    if (!dropped(M::moe)) {
      const double k = layer.experts_per_token, f = layer.intermediate / plan.expert_tp();
      const double share = plan.experts_fold_tp() ? 1.0 / plan.tp : 1.0;
      const double group_rows = plan.ep > 1 ? plan.expert_tp() : 1;
      other += share * (k * layer.hidden + layer.experts);
      gemm_in += share * k * group_rows * ((gated - 1) * f + (dropped(M::moe_act) ? 0 : f) + layer.hidden);
      if (!dropped(M::shared_experts)) {
        other += 2 * layer.shared_width / plan.tp;
        gemm_in += layer.shared_width / plan.tp;
      }
    }
  } else if (!dropped(M::mlp)) {
    other += (gated - 1) * w.f;
    gemm_in += w.f;
  }
  // MLA: the query and KV latents feed their norms and the up-projections (each kept, replicated;
  // recomputing the norms drops the up-projections' inputs); recomputing the up-projections drops
  // the per-head Q, K and V, which the attention's backward rebuilds from the latents.
  other += layer.q_lora + layer.kv_lora;
  if (!dropped(M::layernorm)) gemm_in += layer.q_lora + layer.kv_lora;
  if (!(layer.mla() && dropped(M::mla_up_proj))) other += w.q + w.k + w.v;
  gemm_in += w.o;
  const double gemm_bytes = layer.fp8_cache_bytes > 0 ? layer.fp8_cache_bytes : ab;
  // The attention core (their 5as^2b/t): softmax output (2as^2b), with dropout its mask (as^2b)
  // and output (2as^2b); a/t heads x s keys per query token. Under context parallelism a rank's
  // s/cp queries still score all s keys (ring attention), so the keys stay s. A fused kernel
  // (FlashAttention) keeps only the softmax's fp32 log-sum-exp per head and token instead;
  // recomputing the core keeps none of it.
  double core = 0;
  if (!dropped(M::core_attn))
    core = layer.fused_attention ? 4 * w.heads : w.heads * seq_len * (ab + mask * (1 + ab));
  return tokens * (other * ab + gemm_in * gemm_bytes + 2 * w.r * mask + core);
}

double embedding_activation_bytes(const LayerShape& layer, double seq_len, double micro_batch,
                                  const ParallelPlan& plan) {
  check_activation_args(seq_len, micro_batch, plan, 1);
  // Korthikanti §4.3: the dropout mask after the embedding, sbh (sbh/t with SP) at 1 byte; the
  // first stage holds it for each microbatch in flight (their sbhp/t under 1F1B).
  if (!layer.dropout) return 0;
  return rank_tokens(seq_len, micro_batch, plan) * rank_widths(layer, plan).r;
}

double lm_head_activation_bytes(const LayerShape& layer, std::int64_t vocab_size, double seq_len, double micro_batch,
                                const ParallelPlan& plan, double activation_bytes) {
  check_activation_args(seq_len, micro_batch, plan, activation_bytes);
  // The logits the vocab-parallel cross-entropy keeps in fp32, 4sbV/t (Korthikanti §4.3); beside
  // them, counted as the layers' tensors are, the final norm's input and the output projection's
  // input (sbh each at 2 bytes, /t with SP).
  const RankWidths w = rank_widths(layer, plan);
  const double logits = 4.0 * static_cast<double>(vocab_size) / plan.tp;
  return rank_tokens(seq_len, micro_batch, plan) * (2 * w.r * activation_bytes + logits);
}

LayerActivationParts layer_activation_parts(const LayerShape& layer, const ParallelPlan& plan, double activation_bytes) {
  check_activation_args(1, 1, plan, activation_bytes);
  LayerShape fused = layer;
  fused.fused_attention = true;  // per token only when no s x s tensor is kept
  const RankWidths w = rank_widths(layer, plan);
  LayerActivationParts parts;
  parts.input = w.r * activation_bytes;
  parts.attention_output = w.o * activation_bytes + 4 * w.heads;
  // One token's share: a micro-batch of cp tokens puts one token on each context-parallel rank.
  parts.all = activation_bytes_per_layer(fused, plan.cp, 1, plan, Recompute::none, activation_bytes);
  return parts;
}

MemoryInputs::MemoryInputs(const models::ModelSpec& m)
    : model(m),
      layer(LayerShape::of(m)),
      layers(static_cast<double>(m.num_hidden_layers)),
      activation_bytes(bytes_per_element(m.precision.activations)),
      // Mixed precision keeps an fp32 master copy; fp32 weights are their own master (Megatron's
      // distributed-optimizer table: fp32 params and grads take 16 bytes per parameter, not 20).
      master_weights(m.precision.weights != DType::fp32) {}

namespace {

/// One rank's parameters split into what is stored in precision.weights (the decoder's linear
/// matrices) and in precision.activations (biases, norms, embedding, head), as ModelSpec stores them.
struct ParameterSplit {
  double linear_per_layer = 0, other_per_layer = 0;  ///< one decoder layer (the mean over the rank's layers)
  double expert_per_layer = 0;  ///< of linear_per_layer, the routed experts' under expert parallelism
  double embedding = 0, head = 0;                    ///< the vocab-parallel tables this rank holds
  double final_norm = 0;
};
/// Parameters of one decoder layer of shape `l` on one rank of `in.plan`.
ParameterSplit layer_split(const MemoryInputs& in, const LayerShape& l) {
  const models::ModelSpec& m = in.model;
  const RankWidths w = rank_widths(l, in.plan);
  const double h = l.hidden;
  ParameterSplit p;
  // q, k, v, o projections column- and row-parallel over tp; MLA's down projections to the latents
  // and the shared RoPE key are replicated, its up projections split by heads.
  double attention = h * w.q + h * (w.k + w.v) + w.o * h;
  if (l.mla())
    attention = h * (l.q_lora + l.kv_lora + l.rope_dim) + (l.q_lora > 0 ? l.q_lora : h) * w.q +
                l.kv_lora * (w.k - w.heads * l.rope_dim + w.v) + w.o * h;
  const double mlp = (l.gated_mlp ? 3 : 2) * h * w.f;
  p.linear_per_layer = attention + mlp;
  p.other_per_layer = 2 * h + l.q_lora + l.kv_lora;  // input and post-attention norms (and MLA's latent norms), replicated
  if (l.experts > 0) {
    // The rank's routed experts: E / ep under expert parallelism (split in width over etp, whole
    // by default), all E split in width over tp without; the router (E x h, unquantized) is
    // replicated; the shared experts split over tp.
    const double expert_mlp = (l.gated_mlp ? 3 : 2) * h * l.intermediate / in.plan.expert_tp();
    p.linear_per_layer = attention + l.experts / in.plan.ep * expert_mlp + 3 * h * l.shared_width / in.plan.tp;
    p.other_per_layer += l.experts * h + (m.moe.score_bias ? l.experts : 0);  // DeepSeek-V3's routing bias
    if (in.plan.ep > 1) p.expert_per_layer = l.experts / in.plan.ep * expert_mlp;
  }
  if (m.qkv_bias) p.other_per_layer += w.q + w.k + w.v;
  if (m.o_bias) p.other_per_layer += h;  // the row-parallel bias is added after the reduction: replicated
  return p;
}
/// Of the rank's `layers`, the dense ones (MemoryInputs::dense_layers, resolved).
double rank_dense_layers(const MemoryInputs& in) {
  if (!in.model.moe.enabled() || in.layer.experts <= 0) return in.layers;
  return std::clamp(in.dense_layers.value_or(static_cast<double>(in.model.moe.dense_layers)), 0.0, in.layers);
}
ParameterSplit parameter_split(const MemoryInputs& in) {
  const models::ModelSpec& m = in.model;
  const double dense = rank_dense_layers(in);
  ParameterSplit p = layer_split(in, dense < in.layers ? in.layer : in.layer.dense());
  if (dense > 0 && dense < in.layers) {
    // Mixed layer kinds: the mean layer over the rank's layers.
    const ParameterSplit d = layer_split(in, in.layer.dense());
    const double share = dense / in.layers;
    p.linear_per_layer += share * (d.linear_per_layer - p.linear_per_layer);
    p.other_per_layer += share * (d.other_per_layer - p.other_per_layer);
    p.expert_per_layer *= 1 - share;
  }
  const double h = in.layer.hidden;
  const double table = static_cast<double>(m.vocab_size) * h / in.plan.tp;  // vocab-parallel
  if (in.holds_embedding) p.embedding = table;
  // A tied head shares the embedding's table; a last stage without the embedding keeps its own
  // copy (Megatron: share_embeddings_and_output_weights, synchronised over the embedding group).
  if (in.holds_lm_head && !(m.tie_word_embeddings && in.holds_embedding)) p.head = table;
  if (in.holds_lm_head) p.final_norm = h;
  return p;
}

}  // namespace

RankParameters rank_parameters(const MemoryInputs& in) {
  const ParameterSplit p = parameter_split(in);
  const double bw = in.model.precision.weight_bytes_per_element();
  const double ba = bytes_per_element(in.model.precision.activations);
  const double L = in.layers;
  RankParameters r;
  r.count = L * (p.linear_per_layer + p.other_per_layer) + p.embedding + p.head + p.final_norm;
  r.stored_bytes = bw * (p.linear_per_layer * L) + ba * (p.other_per_layer * L + p.embedding + p.head + p.final_norm);
  r.expert_count = L * p.expert_per_layer;
  return r;
}

namespace {

void check_inputs(const MemoryInputs& in) {
  auto fail = [](const std::string& field, const std::string& value, const char* expected) {
    throw InputError(fmt::format("training memory: {} = {}: expected {}", field, value, expected));
  };
  const ParallelPlan& p = in.plan;
  if (in.seq_len <= 0) fail("seq_len", std::to_string(in.seq_len), "> 0");
  if (in.micro_batch < 1) fail("micro_batch", std::to_string(in.micro_batch), ">= 1");
  if (!(in.layers >= 0)) fail("layers", fmt::format("{}", in.layers), ">= 0");
  if (in.in_flight < 0) fail("in_flight", std::to_string(in.in_flight), ">= 0");
  if (in.embedding_in_flight && *in.embedding_in_flight < 0)
    fail("embedding_in_flight", std::to_string(*in.embedding_in_flight), ">= 0");
  if (in.lm_head_in_flight && *in.lm_head_in_flight < 0)
    fail("lm_head_in_flight", std::to_string(*in.lm_head_in_flight), ">= 0");
  if (p.tp < 1) fail("tp", std::to_string(p.tp), ">= 1");
  if (p.dp < 1) fail("dp", std::to_string(p.dp), ">= 1");
  if (p.cp < 1) fail("cp", std::to_string(p.cp), ">= 1");
  if (p.virtual_stages < 1) fail("virtual_stages", std::to_string(p.virtual_stages), ">= 1");
  if (p.zero < 0 || p.zero > 3) fail("zero", std::to_string(p.zero), "0, 1, 2 or 3");
  if (!(in.activation_bytes > 0)) fail("activation_bytes", fmt::format("{}", in.activation_bytes), "> 0");
  if (!(in.optimizer_moment_bytes >= 0))
    fail("optimizer_moment_bytes", fmt::format("{}", in.optimizer_moment_bytes), ">= 0");
  if (in.comm_buffer_bytes && !(*in.comm_buffer_bytes >= 0))
    fail("comm_buffer_bytes", fmt::format("{}", *in.comm_buffer_bytes), ">= 0");
  if (!(in.reserve_fraction >= 0)) fail("reserve_fraction", fmt::format("{}", in.reserve_fraction), ">= 0");
  if (!(in.reserve_bytes >= 0)) fail("reserve_bytes", fmt::format("{}", in.reserve_bytes), ">= 0");
  if (in.offload_weights && p.zero < 3) fail("zero", std::to_string(p.zero), "3 with the weights offloaded");
  if (in.swap && in.recompute != Recompute::none)
    fail("recompute", in.recompute == Recompute::full ? "full" : "selective", "none with activation swapping");
  if (in.swap && !(in.swap->host_bytes_per_token >= 0 && in.swap->device_layers >= 0))
    fail("swap", fmt::format("{} B per token, {} layers", in.swap->host_bytes_per_token, in.swap->device_layers), ">= 0");
}

/// The ZeRO-2 gradient bucket, in elements: DeepSpeed's default zero_optimization.reduce_bucket_size
/// (5e8 in its configuration docs; Lightning's DeepSpeedStrategy passes 2e8).
constexpr double kZero2BucketElements = 5e8;

/// The data-parallel communication buffers a rank holds beyond its gradient and parameter storage.
double default_comm_buffers(const MemoryInputs& in, const RankParameters& params, double grad_bytes) {
  const ParallelPlan& p = in.plan;
  if (p.weight_replicas() <= 1) return 0;
  switch (p.zero) {
    case 0:
    case 1:
      // Megatron reduces (all-reduce, or reduce-scatter for its distributed optimizer) and gathers
      // in place in the contiguous gradient buffer (Megatron Core docs, "Distributed Optimizer").
      return 0;
    case 2:
      // Unsharded gradients are collected into a bucket and reduce-scattered from it.
      return std::min(params.count, kZero2BucketElements) * grad_bytes;
    default: {
      // Stage 3 (FSDP): the gathered parameters of the unit in use and of the one prefetched (PyTorch
      // FSDP's rate limiter, limit_all_gathers, default since PyTorch 2.1, keeps two unsharded units;
      // Zhao et al., VLDB'23), and the unit's unsharded gradients before their reduce-scatter. A
      // unit is a layer, the embedding or the head.
      const ParameterSplit s = parameter_split(in);
      const double bw = in.model.precision.weight_bytes_per_element();
      const double ba = bytes_per_element(in.model.precision.activations);
      const double layer_params = s.linear_per_layer + s.other_per_layer;
      const double layer_bytes = s.linear_per_layer * bw + s.other_per_layer * ba;
      const double unit_params = std::max({in.layers > 0 ? layer_params : 0.0, s.embedding, s.head});
      const double unit_bytes = std::max({in.layers > 0 ? layer_bytes : 0.0, s.embedding * ba, s.head * ba});
      return 2 * unit_bytes + unit_params * grad_bytes;
    }
  }
}

}  // namespace

RankMemory rank_memory(const MemoryInputs& in) {
  check_inputs(in);
  const ParallelPlan& p = in.plan;
  const RankParameters params = rank_parameters(in);
  const double grad_bytes = bytes_per_element(in.grad_dtype);

  // ZeRO shards the dense parameters over dp x cp and the routed experts over the ranks that hold
  // the same ones (Megatron-Core's distributed optimizer over its expert-data-parallel group).
  const double bw = in.model.precision.weight_bytes_per_element();
  const double dense = params.count - params.expert_count;
  StateBytes sb;
  sb.weight = dense > 0 ? (params.stored_bytes - bw * params.expert_count) / dense : bw;
  sb.gradient = grad_bytes;
  sb.master = in.master_weights ? 4 : 0;
  sb.moments = in.optimizer_moment_bytes;
  const ModelStates states = zero_bytes(dense, p.weight_replicas(), p.zero, sb);
  StateBytes eb = sb;
  eb.weight = bw;
  const ModelStates experts = zero_bytes(params.expert_count, p.expert_replicas(), p.zero, eb);

  RankMemory mem;
  mem.parameters = params.count;
  mem.weights = states.weights + experts.weights;
  mem.gradients = states.gradients + experts.gradients;
  mem.master_weights = states.master_weights + experts.master_weights;
  mem.optimizer_moments = states.optimizer_moments + experts.optimizer_moments;
  mem.expert_weights = experts.weights;
  mem.expert_states = experts.master_weights + experts.optimizer_moments;
  if (in.offload_optimizer) {
    mem.offloaded_states = mem.optimizer_states();
    mem.master_weights = mem.optimizer_moments = 0;
    if (p.zero >= 2) mem.gradients = std::min(mem.gradients, kZero2BucketElements * grad_bytes);
  }
  if (in.offload_weights) {
    mem.offloaded_weights = mem.weights;
    mem.weights = 0;
  }

  // Activations: each held unit is one microbatch through one chunk of layers / v layers; the stage
  // extras ride on the chunks that hold the embedding or the head.
  const double s = static_cast<double>(in.seq_len), b = static_cast<double>(in.micro_batch);
  // The mean layer over the rank's layers: an MoE model's leading dense layers keep a dense MLP's.
  const double dense_share = in.layers > 0 ? rank_dense_layers(in) / in.layers : 0;
  const auto layer_bytes = [&](Recompute r) {
    const double moe = activation_bytes_per_layer(in.layer, s, b, p, r, in.activation_bytes, in.recompute_modules);
    if (dense_share <= 0 || in.layer.experts <= 0) return moe;
    return moe + dense_share * (activation_bytes_per_layer(in.layer.dense(), s, b, p, r, in.activation_bytes,
                                                           in.recompute_modules) -
                                moe);
  };
  double per_layer = layer_bytes(in.recompute);
  if (in.recompute == Recompute::full && in.recomputed_layers && in.layers > 0) {
    // Block recompute: the recomputed layers keep their inputs, the others everything.
    const double share = std::clamp(*in.recomputed_layers, 0.0, in.layers) / in.layers;
    per_layer = share * per_layer + (1 - share) * layer_bytes(Recompute::none);
  }
  const double chunk_layers = in.layers / p.virtual_stages;
  const int end_chunks = (in.in_flight + p.virtual_stages - 1) / p.virtual_stages;
  mem.activations = per_layer * chunk_layers * in.in_flight;
  mem.held_chunks = in.in_flight;
  if (in.swap) {
    // Every held chunk's layers sit in host memory; the device holds the working layers' full
    // activations of the micro-batch in progress, whatever the schedule holds.
    mem.swapped_activations = rank_tokens(s, b, p) * in.swap->host_bytes_per_token * chunk_layers * in.in_flight;
    mem.activations = in.in_flight > 0 ? per_layer * std::min(chunk_layers, in.swap->device_layers) : 0;
  }
  if (in.holds_embedding)
    mem.activations += embedding_activation_bytes(in.layer, s, b, p) * in.embedding_in_flight.value_or(end_chunks);
  if (in.holds_lm_head)
    mem.activations += lm_head_activation_bytes(in.layer, in.model.vocab_size, s, b, p, in.activation_bytes) *
                       in.lm_head_in_flight.value_or(end_chunks);

  mem.comm_buffers = in.comm_buffer_bytes.value_or(default_comm_buffers(in, params, grad_bytes));
  mem.workspace = in.reserve_fraction * (mem.model_states() + mem.activations + mem.comm_buffers) + in.reserve_bytes;
  return mem;
}

std::string breakdown(const RankMemory& mem) {
  constexpr double GiB = 1 << 30;
  return fmt::format(
      "weights {:.1f}, gradients {:.1f}, master weights {:.1f}, optimizer moments {:.1f}, activations {:.1f}, "
      "comm buffers {:.1f}, workspace {:.1f} GiB",
      mem.weights / GiB, mem.gradients / GiB, mem.master_weights / GiB, mem.optimizer_moments / GiB,
      mem.activations / GiB, mem.comm_buffers / GiB, mem.workspace / GiB) +
         (mem.offloaded_states > 0 ? fmt::format(" (and {:.1f} GiB of optimizer states off the device)", mem.offloaded_states / GiB)
                                   : "") +
         (mem.offloaded_weights > 0 ? fmt::format(" (and {:.1f} GiB of weights off the device)", mem.offloaded_weights / GiB)
                                    : "") +
         (mem.swapped_activations > 0
              ? fmt::format(" (and {:.1f} GiB of activations swapped to host)", mem.swapped_activations / GiB)
              : "");
}

std::string over_capacity(const RankMemory& mem, const std::string& rank, double capacity_bytes) {
  constexpr double GiB = 1 << 30;
  return fmt::format("{}: {:.1f} GiB peak > {:.1f} GiB: {}", rank, mem.total() / GiB, capacity_bytes / GiB,
                     breakdown(mem));
}

}  // namespace hetsim::training
