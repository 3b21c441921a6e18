#include "models/moe_layer.hpp"

#include "models/op_factory.hpp"

namespace hetsim::models {

void shared_expert_ops(const ModelSpec& m, double tokens, int tp, double repeat, std::vector<Op>& out) {
  using namespace ops;  // NOLINT: the op constructors read as a vocabulary here
  const MoeSpec& moe = m.moe;
  if (moe.shared_experts <= 0) return;
  const Bytes by(m.precision);
  const DType act = m.precision.activations, mm = m.precision.gemm;
  const double T = tokens, h = static_cast<double>(m.hidden_size);
  const double shared = static_cast<double>(moe.shared_experts * moe.shared_intermediate) / tp;
  out.push_back(gemm("shared_experts_gate_up", mm, by.w, by.a, T, 2 * shared, h, repeat));
  out.push_back(elementwise("shared_experts_silu_mul", act, 5 * T * shared, 3 * T * shared * by.a, 0, repeat));
  out.push_back(gemm("shared_experts_down", mm, by.w, by.a, T, h, shared, repeat));
}

void moe_mlp_ops(const ModelSpec& m, double tokens, const ParallelPlan& plan, double repeat, std::vector<Op>& out,
                 bool with_shared) {
  using namespace ops;  // NOLINT: the op constructors read as a vocabulary here
  const MoeSpec& moe = m.moe;
  const Bytes by(m.precision);
  const DType act = m.precision.activations, mm = m.precision.gemm;
  const double T = tokens, h = static_cast<double>(m.hidden_size);
  const double E = static_cast<double>(moe.experts), k = static_cast<double>(moe.experts_per_token);
  const int tp = plan.tp;
  const bool ep = plan.ep > 1;
  // One expert's width on this rank: whole under expert parallelism, split over tp otherwise.
  const double inter = static_cast<double>(moe.intermediate) / plan.expert_tp();
  // With attention data parallelism (plan.dp > 1) the rank's T tokens are its own sequences'; the
  // experts see every rank's tokens, moved to them by an all-to-all and back (DeepEP's dispatch and
  // combine): the routed rows follow the instance's dp x T tokens.
  const bool wide = ep && plan.dp > 1;
  // Expert tensor parallelism (training): each expert is split in width over etp ranks, which
  // all-gather the rows dispatched to any of them and reduce-scatter the partial outputs
  // (Megatron-Core's all-to-all dispatcher), so a rank computes its expert-TP group's rows.
  const int etp = ep ? plan.expert_tp() : 1;
  const double routed = wide ? T * plan.dp * etp : T;
  const ExpertRankLoad load = busiest_expert_rank(moe, routed, plan.ep);
  const double rows = load.rows;  // routed (token, expert) rows this rank computes

  // Router: logits over the experts (a replicated, unquantized linear layer), then the top-k
  // selection and its softmax/sigmoid weights (~4 FLOPs per logit, read once).
  out.push_back(gemm("moe_router", act, by.a, by.a, T, E, h, repeat));
  out.push_back(elementwise("moe_topk", DType::fp32, 4 * T * E, T * E * 4 + T * k * 8, 0, repeat));

  // Dispatch: each of the rank's tokens goes to the ranks of its k experts (hidden state in the
  // collective dtype; DeepEP sends FP8 with scales, which precision.comm: fp8 expresses).
  if (wide) out.push_back(collective("moe_dispatch", Collective::all_to_all, m.precision.comm, plan.ep, T * k * h * by.c, repeat));
  if (wide && etp > 1)
    out.push_back(collective("moe_etp_all_gather", Collective::all_gather, m.precision.comm, etp, rows * h * by.c, repeat));
  // Routed experts: the tokens' rows grouped by expert, one kernel for all experts. Work follows
  // the rows; weight traffic follows the experts touched.
  const double touched = load.touched;
  Op gate_up = gemm("experts_gate_up", mm, by.w, by.a, rows, 2 * inter, h, repeat);
  gate_up.weights.bytes = touched * h * 2 * inter * by.w;
  gate_up.units = touched;
  out.push_back(gate_up);
  out.push_back(elementwise("experts_silu_mul", act, 5 * rows * inter, 3 * rows * inter * by.a, 0, repeat));
  Op down = gemm("experts_down", mm, by.w, by.a, rows, h, inter, repeat);
  down.weights.bytes = touched * inter * h * by.w;
  down.units = touched;
  out.push_back(down);

  if (with_shared) shared_expert_ops(m, T, tp, repeat, out);
  // Combine: the expert outputs travel back to their tokens' ranks (all-to-all; split in width, first
  // summed over the expert-TP group), where the k outputs of each token are scaled by their weights
  // and summed with the shared experts' output.
  if (wide && etp > 1)
    out.push_back(collective("moe_etp_reduce_scatter", Collective::reduce_scatter, m.precision.comm, etp, rows * h * by.c, repeat));
  if (wide) out.push_back(collective("moe_combine_a2a", Collective::all_to_all, m.precision.comm, plan.ep, T * k * h * by.c, repeat));
  const double own_rows = wide ? T * k : rows;  // the rows summed here: this rank's tokens' k outputs
  out.push_back(elementwise("moe_combine", act, 2 * own_rows * h, (own_rows + T) * h * by.a, 0, repeat));
}

RoutedRows routed_rows(const ModelSpec& m) {
  return {static_cast<double>(m.moe.experts_per_token), static_cast<int>(m.moe.groups), static_cast<int>(m.moe.groups_per_token)};
}

}  // namespace hetsim::models
