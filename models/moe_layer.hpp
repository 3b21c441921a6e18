#pragma once
// The ops of one mixture-of-experts MLP on one device (models/moe.hpp describes the model side).
#include <vector>

#include "models/model.hpp"
#include "sim/core/op.hpp"
#include "sim/core/parallel_plan.hpp"

namespace hetsim::models {

/// Appends the MoE MLP of `tokens` tokens on one device of an instance split by `plan`, each op
/// repeated `repeat` times (the MoE layers): the router, the routed experts' grouped GEMMs (vLLM's
/// fused_moe: gate_up, SiLU-mul, down), the shared experts (split over tp), and the weighted
/// combine of the k outputs. Routed experts are either split in width over the plan.tp ranks
/// (tensor parallelism: every rank computes all T·k rows), or, with plan.ep > 1, placed whole,
/// E/ep per rank (vLLM's --enable-expert-parallel): a rank computes the rows routed to its experts
/// and the step waits for the busiest rank (busiest_expert_rank). The routed GEMMs read the
/// weights of the experts the tokens touch, so a small decode batch reads few experts and a large
/// one all. The results are summed across ranks by the layer's tensor-parallel all-reduce either way.
/// Without `with_shared`, the shared experts are left out (the caller adds them with shared_expert_ops,
/// as training does when the routed experts fold over the tensor-parallel ranks and the shared ones do not).
void moe_mlp_ops(const ModelSpec& m, double tokens, const ParallelPlan& plan, double repeat, std::vector<Op>& out,
                 bool with_shared = true);

/// Appends the shared experts of `m`'s MoE layers (a dense gated MLP every token runs, DeepSeek's
/// n_shared x moe_intermediate wide) on one of `tp` ranks that split it in width: `tokens` rows each.
void shared_expert_ops(const ModelSpec& m, double tokens, int tp, double repeat, std::vector<Op>& out);

/// How the rows of `m`'s MoE dispatch and combine spread when a row crosses once per remote node of
/// its experts (DeepEP): top-k experts over the model's expert groups, at most groups_per_token of
/// them (node-limited routing).
RoutedRows routed_rows(const ModelSpec& m);

}  // namespace hetsim::models
