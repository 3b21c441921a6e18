// Expert tensor parallelism (Megatron-Core's --expert-tensor-parallel-size) under expert
// parallelism: each routed expert split in width over etp ranks, the stage's ranks folded into
// groups of etp x ep (etp fastest). A rank computes its expert-TP group's rows on its 1/etp of the
// width, gathering the rows before the experts and reduce-scattering the partial outputs after.
#include <catch2/catch.hpp>

#include "catalog_entries.hpp"
#include "op_lookup.hpp"
#include "models/graph_builder.hpp"
#include "sim/training/training_memory.hpp"

using namespace hetsim;

namespace {
const Op* find(const std::vector<Op>& ops, std::string_view name) { return test::find_op(ops, name); }

/// Mixtral on a stage of 8 ranks: attention at tp 2 (sequence parallel) over dp 4, the experts
/// over ep 4 x etp 2.
ParallelPlan tp2_ep4_etp2() {
  ParallelPlan plan;
  plan.tp = 2;
  plan.sp = true;
  plan.dp = 4;
  plan.ep = 4;
  plan.etp = 2;
  return plan;
}
}  // namespace

TEST_CASE("expert TP: the degrees fold a stage's ranks into etp x ep groups", "[models][training][moe]") {
  ParallelPlan plan = tp2_ep4_etp2();
  CHECK(plan.expert_tp() == 2);
  CHECK(plan.expert_replicas() == 1);  // 8 ranks, 8 different expert shards
  plan.dp = 8;
  CHECK(plan.expert_replicas() == 2);
  CHECK(plan.describe() == "TP2 SP DP8 EP4 ETP2");
  plan.etp = 0;  // unset: whole experts under expert parallelism
  CHECK(plan.expert_tp() == 1);
  CHECK(plan.expert_replicas() == 4);
  plan.ep = 1;  // without expert parallelism the experts split over tp, replicated over dp x cp
  CHECK(plan.expert_tp() == 2);
  CHECK(plan.expert_replicas() == 8);
}

TEST_CASE("expert TP: a rank computes its group's rows at 1/etp of the width, gathered and reduce-scattered",
          "[models][training][moe]") {
  const auto m = test::catalog_model("mixtral-8x7b");
  const auto& builder = models::builder_for(m);
  models::TrainingShape shape;
  shape.micro_batch = 1;
  shape.seq_len = 4096;
  shape.layers = 32;
  const double T = 4096, h = 4096, inter = 14336, k = 2, L = 32, E = 8;
  const ParallelPlan plan = tp2_ep4_etp2();
  std::vector<Op> fwd;
  builder.training_forward(m, shape, plan, fwd);
  // Balanced routing: the stage's 4 x T tokens' k rows over 4 expert-parallel slots of 2 experts;
  // each slot's rows (2T) are computed by both of its expert-TP ranks, each on half the width.
  const double rows = 4 * T * k / 4;
  const Op* gate_up = find(fwd, "experts_gate_up");
  REQUIRE(gate_up);
  CHECK(gate_up->flops * gate_up->repeat == Approx(2 * rows * 2 * (inter / 2) * h * L));
  CHECK(gate_up->weights.bytes == Approx(E / 4 * h * 2 * (inter / 2) * 2).epsilon(1e-9));
  // The same FLOPs per rank as whole experts over ep 8 (T / 2 tokens' k rows at full width).
  ParallelPlan whole = plan;
  whole.ep = 8;
  whole.etp = 0;
  std::vector<Op> fwd1;
  builder.training_forward(m, shape, whole, fwd1);
  REQUIRE(find(fwd1, "experts_gate_up"));
  CHECK(find(fwd1, "experts_gate_up")->flops == Approx(gate_up->flops));
  CHECK_FALSE(find(fwd1, "moe_etp_all_gather"));
  // The tokens travel to the expert-parallel slots (each rank's own T / 2 tokens, k copies), then
  // the expert-TP pair gathers them; the partial outputs are reduce-scattered back before the
  // combine all-to-all.
  const Op* dispatch = find(fwd, "moe_dispatch");
  REQUIRE(dispatch);
  CHECK(dispatch->group == 4);
  CHECK(dispatch->comm_bytes == Approx(T / 2 * k * h * 2));
  const Op* gather = find(fwd, "moe_etp_all_gather");
  const Op* scatter = find(fwd, "moe_etp_reduce_scatter");
  REQUIRE(gather);
  REQUIRE(scatter);
  CHECK(gather->collective == Collective::all_gather);
  CHECK(scatter->collective == Collective::reduce_scatter);
  for (const Op* op : {gather, scatter}) {
    CHECK(op->group == 2);
    CHECK(op->comm_bytes == Approx(rows * h * 2));  // the gathered rows, BF16
    CHECK(op->repeat == L);
  }
  // Backward: the gather's gradient is a reduce-scatter and the other way round; the weight
  // gradient accumulates the rank's 2 half-experts (FP32).
  std::vector<Op> bwd;
  builder.training_backward(m, shape, plan, bwd);
  REQUIRE(find(bwd, "moe_etp_all_gather_dgrad"));
  CHECK(find(bwd, "moe_etp_all_gather_dgrad")->collective == Collective::reduce_scatter);
  REQUIRE(find(bwd, "moe_etp_reduce_scatter_dgrad"));
  CHECK(find(bwd, "moe_etp_reduce_scatter_dgrad")->collective == Collective::all_gather);
  const Op* wgrad = find(bwd, "experts_gate_up_wgrad");
  REQUIRE(wgrad);
  CHECK(wgrad->activations.bytes == Approx(gate_up->activations.bytes + 2 * (E / 4 * h * 2 * (inter / 2)) * 4));
}

TEST_CASE("expert TP: parameters, ZeRO shards and activations per rank", "[models][training][moe]") {
  const auto m = test::catalog_model("mixtral-8x7b");
  const double h = 4096, inter = 14336, L = 32, E = 8;
  const double experts = E * 3 * h * inter * L;
  models::TrainingShape shape;
  shape.layers = 32;
  ParallelPlan plan = tp2_ep4_etp2();
  // Each rank holds 2 of 8 experts at half width: 1/8 of the routed experts, as at ep 8.
  CHECK(models::stage_expert_parameters(m, plan, shape) == Approx(experts / 8));
  const double folded = (static_cast<double>(m.parameters()) - experts) / 2 + experts / 8;
  CHECK(models::stage_parameters(m, plan, shape) == Approx(folded));
  training::MemoryInputs in(m);
  in.seq_len = 4096;
  in.plan = plan;
  CHECK(training::rank_parameters(in).count == Approx(folded).epsilon(2e-4));
  // ZeRO-1 at dp 8: the dense states over 8 ranks, the expert states over their 2 replicas.
  in.plan.dp = 8;
  const auto m0 = training::rank_memory(in);
  in.plan.zero = 1;
  const auto m1 = training::rank_memory(in);
  CHECK(m1.optimizer_states() == Approx((m0.optimizer_states() - m0.expert_states) / 8 + m0.expert_states / 2));
  // Activations: the inner tensors of 2x the rows at half width weigh the same as whole experts';
  // the gathered expert inputs are 2x the rank's own (k x h per routed token of its T / 2).
  const training::LayerShape moe = training::LayerShape::of(m);
  const auto per_layer = [&](const ParallelPlan& p) {
    return training::activation_bytes_per_layer(moe, 4096, 1, p, training::Recompute::none, 2);
  };
  ParallelPlan whole = plan;
  whole.etp = 0;
  CHECK(per_layer(plan) - per_layer(whole) == Approx(4096 / 2 * 2.0 * h * 2));
}
