#pragma once
// Device memory of one rank of a distributed training job, analytic (no SimGrid): the model states
// under ZeRO (Rajbhandari et al., SC'20 §5), the activations a transformer layer keeps for backward
// (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models", §4),
// the stage extras of the embedding and the LM head, communication buffers and a reserve.
//
//   total = weights + gradients + master weights + optimizer moments   (model states, ZeRO §5)
//         + activations                                                 (Korthikanti §4)
//         + comm buffers + workspace
//
// The caller decides the partitioning: how many decoder layers the rank holds, whether it holds the
// embedding (first pipeline stage) and the LM head (last stage), and how many microbatch chunks of
// activations it holds at its peak (`in_flight`, from the pipeline schedule's replay:
// training::PipelineTiming::peak_activations). Dense and MoE decoder-only models: routed experts
// (sharded by expert parallelism), shared experts, leading dense layers and MLA (DeepSeek).
#include <cstdint>
#include <optional>
#include <string>

#include "models/graph_builder.hpp"
#include "models/model.hpp"
#include "sim/core/op.hpp"
#include "sim/core/parallel_plan.hpp"

namespace hetsim::training {

using Recompute = models::TrainingShape::Recompute;

// ---------------------------------------------------------------------------------------------
// Model states (ZeRO)

/// Bytes per parameter of each model state. The defaults are the ZeRO paper's mixed-precision
/// Adam (§3.1): fp16 weights and gradients, fp32 master weights, momentum and variance, so
/// K = master + moments = 12.
struct StateBytes {
  double weight = 2;    ///< weights as the passes use them
  double gradient = 2;  ///< gradients as accumulated and reduced (Megatron keeps fp32 main grads: 4)
  double master = 4;    ///< fp32 master weights (0 when the weights already are fp32)
  double moments = 8;   ///< Adam's fp32 momentum and variance
  /// ZeRO's K: optimizer-state bytes per parameter, master weights included.
  double optimizer() const { return master + moments; }
};

/// Model-state bytes of one rank.
struct ModelStates {
  double weights = 0;
  double gradients = 0;
  double master_weights = 0;
  double optimizer_moments = 0;
  double optimizer_states() const { return master_weights + optimizer_moments; }
  double total() const { return weights + gradients + optimizer_states(); }
};

/// Model states per GPU of `parameters` (Ψ, what this rank holds after tensor and pipeline
/// splitting) at ZeRO `zero_stage` over `dp` data-parallel ranks (N_d), ZeRO §5 / Figure 1 with the
/// 2s generalised to `bytes.weight` and `bytes.gradient`:
///   0: (w + g + K)Ψ;  1 (P_os): wΨ + gΨ + KΨ/N_d;  2 (P_os+g): wΨ + (g + K)Ψ/N_d;
///   3 (P_os+g+p): (w + g + K)Ψ/N_d.
/// InputError unless 0 <= zero_stage <= 3, dp >= 1 and parameters >= 0.
ModelStates zero_bytes(double parameters, int dp, int zero_stage, const StateBytes& bytes = {});

// ---------------------------------------------------------------------------------------------
// Activations (Korthikanti et al. 2022)

/// The dimensions of one decoder layer that its stored activations depend on.
struct LayerShape {
  double hidden = 0;        ///< h
  double intermediate = 0;  ///< f, the MLP's inner width (4h in GPT)
  double heads = 0;         ///< a, attention (query) heads
  double kv_heads = 0;      ///< key/value heads (== heads: MHA; fewer: GQA)
  double head_dim = 0;      ///< query width = heads x head_dim (h in GPT)
  bool gated_mlp = true;    ///< SwiGLU (gate, up -> down) rather than GeLU (fc1 -> fc2)
  bool dropout = false;     ///< dropout after attention and MLP and on the attention probabilities
  /// The attention kernel keeps no s x s tensor for backward (FlashAttention, which Megatron runs
  /// with --use-flash-attn / Transformer Engine): the attention core is recomputed in backward, so
  /// no recompute stores what selective recompute stores.
  bool fused_attention = false;
  /// Bytes per element of the FP8 activation cache (0: none, everything at the activation bytes):
  /// DeepSeek-V3 keeps the Linear operators' inputs (the FP8 copies its FP8 GEMMs read) and the MoE
  /// experts' SwiGLU inputs in FP8, 1 byte (Technical Report §3.3.3, "Low-Precision Storage").
  double fp8_cache_bytes = 0;
  /// MoE layers (Mixtral, Qwen3-MoE): `experts` routed experts of width `intermediate` each, a token
  /// routed to `experts_per_token` of them; 0: a dense MLP of width `intermediate`.
  double experts = 0;
  double experts_per_token = 0;
  double shared_width = 0;        ///< MoE: the shared experts' MLP width, all of them (DeepSeek's n_shared x width)
  double dense_intermediate = 0;  ///< MoE: the leading dense layers' MLP width (DeepSeek's intermediate_size)
  /// Multi-head latent attention (DeepSeek-V2/V3): the query and KV latents' widths (0: not MLA),
  /// each head's query/key width (nope + rope) and value width; K and V are expanded per head.
  double q_lora = 0, kv_lora = 0, qk_dim = 0, v_dim = 0, rope_dim = 0;
  bool mla() const { return kv_lora > 0; }
  /// The shape of an MoE model's leading dense layers: a dense MLP of dense_intermediate.
  LayerShape dense() const;

  /// The layer of `m`: gated when hidden_act is "silu"; no dropout (Llama and Qwen2 train without
  /// it: attention_dropout 0 and no hidden dropout in their HF configs); no fused attention, so
  /// that `none` means what it means in Korthikanti's Table 2.
  static LayerShape of(const models::ModelSpec& m);
  /// Korthikanti's GPT layer: MHA with `heads` heads of hidden/heads, a GeLU MLP of 4h, dropout.
  static LayerShape gpt(double hidden, double heads);
};

/// Bytes of activations one decoder layer keeps for backward for one microbatch of `micro_batch`
/// sequences of `seq_len` tokens, on one rank of `plan` (tp, sp, cp), at `activation_bytes` per
/// element (dropout masks: 1 byte). For Korthikanti's GPT layer (LayerShape::gpt) at 2 bytes,
/// s = seq_len, b = micro_batch, t = tp, Table 2:
///   none:        sbh(34 + 5as/h) without TP; sbh(10 + 24/t + 5as/(ht)) TP; (sbh/t)(34 + 5as/h) TP+SP
///   selective:   sbh(10 + 24/t) TP; 34 sbh/t TP+SP
///   full:        2sbh; 2sbh/t with SP (the layer's input only)
/// Context parallelism gives each rank s/cp of the tokens (the derivation is in the .cpp).
/// Selective recompute of other modules than the attention core (`modules`: models::RecomputeModule
/// bits, Megatron-Core's --recompute-modules) drops what each recomputes: layernorm the norms'
/// outputs (the QKV and MLP GEMMs' inputs, MLA's up-projections' inputs); mla_up_proj the per-head
/// Q, K and V; moe_act the experts' SwiGLU product; mlp a dense MLP's inner tensors; shared_experts
/// theirs; moe an MoE layer's whole MLP (experts, permuted copies, router logits, shared experts).
double activation_bytes_per_layer(const LayerShape& layer, double seq_len, double micro_batch, const ParallelPlan& plan,
                                  Recompute recompute, double activation_bytes = 2,
                                  unsigned modules = models::RecomputeModule::core_attn);

/// Extra activations of one microbatch on the stage that holds the embedding: the embedding
/// dropout's mask (Korthikanti §4.3), 1 byte per element, split over tp with SP; 0 without dropout.
/// (The embedding's output is the first layer's input, counted with that layer.)
double embedding_activation_bytes(const LayerShape& layer, double seq_len, double micro_batch,
                                  const ParallelPlan& plan);

/// Extra activations of one microbatch on the stage that holds the LM head: the final norm's input
/// and the head's input at `activation_bytes` (split over tp with SP), and the logits the
/// cross-entropy keeps in fp32, 4·s·b·V/t (Korthikanti §4.3).
double lm_head_activation_bytes(const LayerShape& layer, std::int64_t vocab_size, double seq_len, double micro_batch,
                                const ParallelPlan& plan, double activation_bytes = 2);

/// Per token of a micro-batch on one rank of `plan`, the bytes of one decoder layer's activations
/// that activation swapping tells apart (fused attention, no recompute; `activation_bytes` per element).
struct LayerActivationParts {
  double input = 0;             ///< the layer's input (h wide, h/t with sequence parallelism)
  double attention_output = 0;  ///< the fused attention's output (heads/t x head_dim) and its fp32 log-sum-exp
  double all = 0;               ///< everything the layer keeps for backward (activation_bytes_per_layer, none)
};
LayerActivationParts layer_activation_parts(const LayerShape& layer, const ParallelPlan& plan, double activation_bytes = 2);

// ---------------------------------------------------------------------------------------------
// One rank

/// What the memory of one rank depends on. The constructor derives every default from the model.
struct MemoryInputs {
  explicit MemoryInputs(const models::ModelSpec& m);

  const models::ModelSpec& model;
  LayerShape layer;              ///< LayerShape::of(model); set gated_mlp / dropout for other families
  ParallelPlan plan;             ///< tp, sp, cp, dp, zero, virtual_stages are read; pp only via the fields below
  std::int64_t micro_batch = 1;  ///< sequences per microbatch
  std::int64_t seq_len = 0;      ///< tokens per sequence (required, > 0)
  Recompute recompute = Recompute::none;
  unsigned recompute_modules = models::RecomputeModule::core_attn;  ///< with selective recompute
  double layers = 0;            ///< decoder layers on this rank, all its chunks together (default: all)
  /// Of `layers`, an MoE model's leading dense ones (DeepSeek's first 3) on this rank; default: as
  /// many of the model's as `layers` covers from layer 0. Ignored for a dense model.
  std::optional<double> dense_layers;
  /// With full recompute: how many of `layers` are recomputed (Megatron's block method); the others
  /// keep every activation, as without recompute. Default: all.
  std::optional<double> recomputed_layers;
  bool holds_embedding = true;  ///< first pipeline stage
  bool holds_lm_head = true;    ///< last pipeline stage (the final norm and the head)
  /// Microbatch chunks of activations held at the peak; one chunk = layers / virtual_stages layers.
  int in_flight = 1;
  /// Held chunks that carry the embedding's / the head's extras; default ceil(in_flight / v) (with
  /// v = 1 every held chunk does).
  std::optional<int> embedding_in_flight;
  std::optional<int> lm_head_in_flight;
  double activation_bytes = 2;  ///< bytes per activation element (model.precision.activations)
  /// Gradients as accumulated and reduced: Megatron keeps fp32 main grads
  /// (--accumulate-allreduce-grads-in-fp32, on by default with bf16); the ZeRO paper counts fp16.
  DType grad_dtype = DType::fp32;
  bool master_weights = true;         ///< fp32 master copy; default: unless the weights are fp32
  double optimizer_moment_bytes = 8;  ///< Adam: fp32 momentum and variance
  /// Data-parallel communication buffers beyond the gradients themselves; default by ZeRO stage
  /// (training_memory.cpp: default_comm_buffers).
  std::optional<double> comm_buffer_bytes;
  /// Allocator fragmentation and kernel workspaces: this fraction of everything else plus the fixed
  /// bytes (round estimates, not measurements: calibrate against a real run's peak).
  double reserve_fraction = 0.05;
  double reserve_bytes = 1.0 * (1 << 30);
  /// The optimizer states (master weights and moments) live off the device (optimizer offload):
  /// RankMemory::offloaded_states holds them instead, outside the device's total. With ZeRO >= 2
  /// the reduced gradient shard goes to host memory too, bucket by bucket (ZeRO-Offload keeps the
  /// gradients with the CPU's optimizer): the device keeps one reduce bucket of them.
  bool offload_optimizer = false;
  /// The weights' shard lives off the device too (ZeRO-Infinity's parameter offload, ZeRO-3 only):
  /// RankMemory::offloaded_weights holds it; the gathered layers in use stay in the comm buffers.
  bool offload_weights = false;
  /// Activation swapping (policies.activation_offload): every decoder layer's activations leave the
  /// device after its forward, `host_bytes_per_token` per token and layer going to host memory
  /// (RankMemory::swapped_activations) and the rest dropped for recompute; the device keeps the
  /// full activations of `device_layers` layers (the one computing, the one in transfer) for the
  /// micro-batch in progress. Needs recompute none (the swap policy decides what is recomputed).
  struct Swap {
    double host_bytes_per_token = 0;
    double device_layers = 2;
  };
  std::optional<Swap> swap;
};

/// Parameters (Ψ) this rank holds after tensor and pipeline splitting, and their stored bytes:
/// `layers` decoder layers (linear layers split over tp, KV projections replicated when tp exceeds
/// the KV heads, norms replicated), the vocab-parallel embedding and head (V·h/tp) on the stages
/// that hold them (a tied head on a stage without the embedding keeps its own copy, as Megatron's
/// last stage does), the final norm with the head. With tp = 1, all layers and both ends this is
/// ModelSpec::parameters() / weight_bytes() for a gated model.
struct RankParameters {
  double count = 0;
  double stored_bytes = 0;  ///< linear layers in precision.weights, the rest in precision.activations
  /// Of `count`, the routed experts' under expert parallelism (stored in precision.weights): ZeRO
  /// shards them over their expert-data-parallel ranks, the rest over dp x cp.
  double expert_count = 0;
};
RankParameters rank_parameters(const MemoryInputs& in);

/// Bytes of one rank by component.
struct RankMemory {
  double parameters = 0;  ///< Ψ of this rank (before ZeRO sharding)
  /// Of `weights` and of the optimizer states, the routed experts' under expert parallelism
  /// (replicated over ParallelPlan::expert_replicas ranks, not dp x cp).
  double expert_weights = 0, expert_states = 0;
  double weights = 0;
  double gradients = 0;
  double master_weights = 0;
  double optimizer_moments = 0;
  double activations = 0;
  double comm_buffers = 0;
  double workspace = 0;
  int held_chunks = 1;  ///< micro-batch chunks of activations `activations` holds (MemoryInputs::in_flight)
  /// Optimizer states kept off the device (host memory or NVMe) by an optimizer offload; with it,
  /// master_weights and optimizer_moments are 0.
  double offloaded_states = 0;
  /// The weights' shard kept off the device by a parameter offload; with it, weights is 0.
  double offloaded_weights = 0;
  /// Activations swapped to host memory at the peak (MemoryInputs::swap), outside the device's total.
  double swapped_activations = 0;
  double optimizer_states() const { return master_weights + optimizer_moments; }
  double model_states() const { return weights + gradients + optimizer_states(); }
  double total() const { return model_states() + activations + comm_buffers + workspace; }
};

/// The memory of the rank `in` describes. InputError naming the bad field on inputs out of range.
RankMemory rank_memory(const MemoryInputs& in);

/// "weights 12.1, gradients 24.2, master weights 24.2, optimizer moments 48.4, activations 10.3,
/// comm buffers 0.0, workspace 7.0 GiB".
std::string breakdown(const RankMemory& mem);
/// "rank (stage 3): 91.2 GiB peak > 80.0 GiB: weights 12.1, ...": the message when `mem` does not
/// fit in `capacity_bytes`; `rank` names the rank.
std::string over_capacity(const RankMemory& mem, const std::string& rank, double capacity_bytes);

}  // namespace hetsim::training
