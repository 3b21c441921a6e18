#pragma once
// Model graph builders, one per architecture family, registered by HF `model_type` (one file each:
// models/dense_transformer.cpp for llama/qwen2; MoE and MLA builders register the same way).
// A builder turns a model, a batch or training shape and a parallel plan into the ops one device
// runs, in order (a chain on the device's model engine; collectives are ops of class collective).
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "models/batch.hpp"
#include "models/model.hpp"
#include "sim/core/op.hpp"
#include "sim/core/parallel_plan.hpp"

namespace hetsim::models {

/// The modules selective recompute can recompute, as Megatron-Core names them (--recompute-modules):
/// bits of an unsigned set (the names stay inside RecomputeModule::).
struct RecomputeModule {
  enum : unsigned {
    core_attn = 1,        ///< the attention core (its s x s scores, or a fused kernel's statistics)
    layernorm = 2,        ///< the norms: their outputs, the GEMMs' inputs, are not kept
    mla_up_proj = 4,      ///< MLA's query and KV up-projections: the per-head Q, K and V are not kept
    moe_act = 8,          ///< the routed experts' activation (SwiGLU's product, the down projection's input)
    mlp = 16,             ///< a dense layer's whole MLP (its inner tensors)
    shared_experts = 32,  ///< the shared experts' whole MLP
    moe = 64,             ///< an MoE layer's whole MLP: router, dispatch, experts, shared experts, combine
  };
};
/// One training micro-batch as one pipeline stage of one data-parallel rank sees it.
struct TrainingShape {
  std::int64_t micro_batch = 1;  ///< sequences per micro-batch
  std::int64_t seq_len = 0;      ///< tokens per sequence
  /// Model stage (0 .. pp·v-1, v = plan.virtual_stages): stage 0 embeds, the last one computes the
  /// loss. With interleaving, rank r's chunk c is model stage c·pp + r.
  int stage = 0;
  /// Decoder layers of this stage; -1: default_stage_layers over the pp·v model stages.
  std::int64_t layers = -1;
  /// Index of the stage's first decoder layer (which of DeepSeek's leading dense layers it holds);
  /// -1: the layers of the stages before it under default_stage_layers.
  std::int64_t first_layer = -1;
  /// Recompute the forward pass inside backward: none, selective (the modules below) or full.
  enum class Recompute { none, selective, full } recompute = Recompute::none;
  /// With selective recompute: which modules of each layer backward recomputes instead of keeping
  /// their outputs (Megatron-Core's --recompute-modules; RecomputeModule bits). Default: the
  /// attention core (Korthikanti et al.'s selective recompute).
  unsigned recompute_modules = RecomputeModule::core_attn;
  /// With full recompute: decoder layers of this stage recomputed, the others keeping their
  /// activations (Megatron's --recompute-method block); -1: all of them.
  std::int64_t recompute_layers = -1;
  DType grad_dtype = DType::fp32;  ///< gradient accumulation / reduction dtype
  DType moment_dtype = DType::fp32;  ///< Adam's momentum and variance
  /// MoE dispatch and combine as DeepEP runs them (Megatron-Core's flex dispatcher): each token's
  /// row crosses once per remote node of its experts and is forwarded there over NVLink (Op::routed);
  /// false: a plain all-to-all of every (token, expert) row (Megatron's alltoall dispatcher).
  bool deepep = false;
};

/// The module named `name` (Megatron-Core's spelling), or 0 if there is none.
unsigned recompute_module(std::string_view name);
/// The names of the modules in `modules`, comma-separated, in RecomputeModule order.
std::string recompute_module_names(unsigned modules);
/// Whether selective recompute of `modules` recomputes the forward op named `name`.
bool recomputes(unsigned modules, std::string_view name, OpClass cls);

/// Model stages of a plan: pp ranks times v chunks each.
inline int model_stages(const ParallelPlan& p) { return p.pp * p.virtual_stages; }
/// The default split of `layers` decoder layers over `stages` model stages: as even as possible,
/// the extra layers on the stages after the first, so that the first and last stages (which also
/// embed and compute the LM head and loss) carry the fewer layers when the split is uneven
/// (Llama 3's 126 layers over 16 stages: 7, 8 x 14, 7, as in Dubey et al. 2024, §3.3.2).
std::vector<std::int64_t> default_stage_layers(std::int64_t layers, int stages);
/// Decoder layers of model stage `t.stage` (t.layers, or default_stage_layers).
double stage_layers(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t);
/// Index of the first decoder layer of model stage `t.stage` (t.first_layer, or the default split's).
std::int64_t stage_first_layer(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t);
/// Of the stage's decoder layers, the leading dense ones of an MoE model (DeepSeek's
/// first_k_dense_replace) that fall in its range; all of them for a dense model.
double stage_dense_layers(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t);
/// Parameters one device of model stage `t.stage` holds: its layers', the embedding on the first
/// stage, the LM head on the last (with tied embeddings and more than one stage, the last stage
/// keeps its own copy, as Megatron-LM does), all split over tp but the routed experts under expert
/// parallelism (E / ep of them whole, expert-TP 1). Norms and biases are counted as
/// split too (they are replicated; < 0.01% of a layer): so pp = 1 gives parameters() / tp exactly.
double stage_parameters(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t);
/// Layer kinds differ (DeepSeek's dense then MoE layers): each layer in the stage's range counts as its kind.
/// Of stage_parameters, the routed experts' (E / ep of each MoE layer's, whole): what expert parallelism
/// replicates over its expert-data-parallel ranks only (ParallelPlan::expert_replicas).
double stage_expert_parameters(const ModelSpec& m, const ParallelPlan& p, const TrainingShape& t);

class GraphBuilder {
 public:
  virtual ~GraphBuilder() = default;
  /// Ops of one serving forward step for `batch` on one device of an instance split by `plan`.
  /// Contract: the ops that depend on more than the batch's token and logit counts (attention,
  /// whose cost follows each sequence's context) form one contiguous run, and are exactly what
  /// serving_attention emits, so a pricer can cache everything else by (tokens, logit tokens).
  virtual void serving_step(const ModelSpec& m, const BatchShape& batch, const ParallelPlan& plan, std::vector<Op>& out) const = 0;
  /// Only the context-dependent ops of serving_step (appended to `out`, in the same order).
  virtual void serving_attention(const ModelSpec& m, const BatchShape& batch, const ParallelPlan& plan,
                                 std::vector<Op>& out) const = 0;
  /// Forward pass of one micro-batch on one device (its pipeline stage's layers).
  virtual void training_forward(const ModelSpec& m, const TrainingShape& s, const ParallelPlan& plan, std::vector<Op>& out) const = 0;
  /// Backward pass of one micro-batch: input-gradient ops (named *_dgrad) and weight-gradient ops
  /// (named *_wgrad), in execution order, with any recompute of the forward first.
  virtual void training_backward(const ModelSpec& m, const TrainingShape& s, const ParallelPlan& plan, std::vector<Op>& out) const = 0;
  /// Gradient synchronisation across data-parallel ranks after the last micro-batch (all-reduce,
  /// or reduce-scatter under ZeRO >= 1) and the parameter all-gather ZeRO 1/2 needs after the step,
  /// for the parameters of model stage `s.stage` (stage_parameters).
  virtual void gradient_sync(const ModelSpec& m, const TrainingShape& s, const ParallelPlan& plan, std::vector<Op>& out) const = 0;
  /// The optimizer step (Adam) over the parameters of model stage `s.stage` this device updates.
  virtual void optimizer_step(const ModelSpec& m, const TrainingShape& s, const ParallelPlan& plan, std::vector<Op>& out) const = 0;
};

/// Builders by model_type. Each builder file adds itself with HETSIM_REGISTER_GRAPH_BUILDER.
std::map<std::string, const GraphBuilder*>& graph_builders();
/// The builder for `m.model_type`; InvariantError if none is registered (parse_model checks names).
const GraphBuilder& builder_for(const ModelSpec& m);
bool register_graph_builder(const std::string& model_type, const GraphBuilder* builder);

}  // namespace hetsim::models

#define HETSIM_REGISTER_GRAPH_BUILDER(Class, model_type)                                               \
  [[maybe_unused]] static const bool HETSIM_GB_CONCAT(hetsim_graph_builder_, __LINE__) =              \
      ::hetsim::models::register_graph_builder(model_type, [] {                                         \
        static const Class builder;                                                                     \
        return &builder;                                                                                \
      }())
#define HETSIM_GB_CONCAT_INNER(a, b) a##b
#define HETSIM_GB_CONCAT(a, b) HETSIM_GB_CONCAT_INNER(a, b)
