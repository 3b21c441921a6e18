#pragma once
// Prices what one device of each pipeline model stage does per micro-batch and per iteration, from
// the model's training graphs (models/graph_builder.hpp) and the cost model (hw/cost_model.hpp):
// forward, input-gradient and weight-gradient passes (collectives inside a pass, i.e. tensor,
// sequence and context parallelism and ZeRO-3 gathers, priced by the alpha-beta model over the
// scale-up link, or the scale-out level when their group spans nodes), the bytes a stage sends to
// the next one, the gradient and parameter bytes data parallelism moves, and the optimizer step.
// No SimGrid: the training engine replays these on the platform network.
#include <algorithm>
#include <vector>

#include "hw/cost_model.hpp"
#include "models/model.hpp"
#include "sim/training/training_job.hpp"

namespace hetsim::training {

/// One pass of one micro-batch through one model stage on one device.
struct PassCost {
  double seconds = 0;  ///< the pass as run: compute and in-pass communication back to back
  double comm = 0;     ///< of which collectives inside the pass (TP/SP, CP, ZeRO-3 gathers, MoE all-to-alls), as exposed
  double ep_comm = 0;  ///< of `comm`, the MoE dispatch and combine all-to-alls over the expert-parallel group
  double cp_comm = 0;  ///< of `comm`, the context-parallel K/V exchange left exposed by the attention it overlaps
  double flops = 0;    ///< arithmetic executed (recompute included)
  /// Of `seconds` and `flops`, the causal attention core's over whole sequences: what packing
  /// documents with per-document masks scales (training.documents).
  double attention = 0, attention_flops = 0;
  /// The context-parallel K/V ring's time before overlap, and the ring's degree: the ring runs
  /// under the attention blocks in `cp` steps, so min(ring, attention) (1 - 1/cp) of it is hidden
  /// (what remains is `cp_comm`), and shrinking the attention (short documents) exposes more of it.
  double cp_ring = 0;
  int cp = 1;
  PassCost& operator+=(const PassCost& o) {
    seconds += o.seconds;
    comm += o.comm;
    ep_comm += o.ep_comm;
    cp_comm += o.cp_comm;
    flops += o.flops;
    attention += o.attention;
    attention_flops += o.attention_flops;
    cp_ring += o.cp_ring;
    cp = std::max(cp, o.cp);
    return *this;
  }
  /// The part of the K/V ring hidden under `attention_seconds` of attention.
  double cp_hidden(double attention_seconds) const {
    return cp > 1 ? std::min(cp_ring, attention_seconds) * (1 - 1.0 / cp) : 0.0;
  }
  /// The pass with its attention core at `share` of full-sequence causal attention: the K/V ring
  /// (which carries every token whatever the documents) hides under the smaller attention only.
  PassCost with_attention(double share) const {
    PassCost c = *this;
    const double exposed = cp_hidden(attention) - cp_hidden(attention * share);
    c.seconds += exposed - attention * (1 - share);
    c.comm += exposed;
    c.cp_comm += exposed;
    c.flops -= attention_flops * (1 - share);
    c.attention *= share;
    c.attention_flops *= share;
    return c;
  }
  /// The pass over `fraction` of its tokens, its attention core at `share` (the work that is not
  /// attention scales with the tokens: GEMMs, norms, tensor-parallel collectives).
  PassCost with_tokens(double fraction, double share) const {
    PassCost c = with_attention(share);
    const double other = c.seconds - c.attention - c.cp_comm, other_comm = c.comm - c.cp_comm;
    c.seconds -= (other) * (1 - fraction);
    c.comm -= other_comm * (1 - fraction);
    c.ep_comm *= fraction;
    c.flops -= (c.flops - c.attention_flops) * (1 - fraction);
    return c;
  }
};

struct StageCost {
  double layers = 0;
  double parameters = 0;          ///< held by one device (models::stage_parameters)
  PassCost forward, backward_input, backward_weight;  ///< backward = input + weight parts
  /// Bytes one device sends to the next stage per micro-batch: the stage's output activations
  /// (and the same again, as input gradients, backwards), split over the tensor-parallel ranks
  /// (Megatron's scatter/gather of pipeline sends).
  double boundary_bytes = 0;
  double grad_bytes = 0;     ///< gradients one device reduces over data parallelism
  double param_bytes = 0;    ///< parameters as stored (the ZeRO 1/2 all-gather after the step)
  /// Of grad_bytes and param_bytes, the routed experts' under expert parallelism: they reduce and
  /// gather over the expert-data-parallel ranks (ParallelPlan::expert_replicas), the rest over dp x cp.
  double expert_grad_bytes = 0, expert_param_bytes = 0;
  double optimizer = 0;      ///< seconds of the optimizer step on one device
  /// The forward of the stage's decoder layers as full recompute runs it inside backward (not
  /// added to any pass): what an activation swap policy recomputes a share of.
  PassCost recompute;
  PassCost backward() const {
    PassCost b = backward_input;
    b += backward_weight;
    return b;
  }
};

/// Nodes a group of `size` ranks spaced `stride` apart spans, with `slots` devices per node and
/// ranks placed in order (Megatron's tp-cp-dp-pp order puts tensor parallelism innermost).
int group_nodes(int size, int stride, int slots);

/// Prices every model stage of `job` (pp · virtual_stages entries). `cost` must carry the
/// scale-out level (hw::CostModel::set_scale_out) when some group spans nodes.
std::vector<StageCost> price_stages(const models::ModelSpec& model, const TrainingJob& job, const hw::CostModel& cost,
                                    int slots_per_node);

/// Megatron-LM's model FLOPs of one iteration (Narayanan et al., SC'21, §5.1, with the attention
/// and LM-head terms; generalised to GQA and gated MLPs by counting the linear layers' weights):
/// 3 (forward + backward) x [2 x tokens x (L x linear weights per layer + V x h)
///                          + 4 x tokens x s x L x (heads x head_dim)]
/// without recompute and with full (non-causal) attention, as Megatron counts. For GPT with
/// h' = 4h MLP this is 72 B s L h^2 (1 + s/(6h) + V/(12 L h)).
double megatron_model_flops(const models::ModelSpec& model, std::int64_t sequences, std::int64_t seq_len);
/// Of megatron_model_flops, the attention term: 3 x 4 x tokens x s x L x (heads x head_dim).
double megatron_attention_flops(const models::ModelSpec& model, std::int64_t sequences, std::int64_t seq_len);

}  // namespace hetsim::training
