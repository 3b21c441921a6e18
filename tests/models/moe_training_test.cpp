// MoE training (Mixtral): the forward's routed experts compute each token's k experts; expert
// parallelism adds the dispatch and combine all-to-alls over the ep group and keeps E / ep experts
// per rank; backward accumulates the rank's expert gradients; parameters and memory follow the
// experts a rank holds; Megatron's FLOP accounting counts the k experts a token uses.
#include <catch2/catch.hpp>

#include "catalog_entries.hpp"
#include "op_lookup.hpp"
#include "models/graph_builder.hpp"
#include "sim/training/stage_costs.hpp"
#include "sim/training/training_memory.hpp"

using namespace hetsim;

namespace {
const Op* find(const std::vector<Op>& ops, std::string_view name) { return test::find_op(ops, name); }
}  // namespace

TEST_CASE("moe training: experts compute k experts per token, and EP adds the all-to-alls", "[models][training][moe]") {
  const auto m = test::catalog_model("mixtral-8x7b");
  const auto& builder = models::builder_for(m);
  models::TrainingShape shape;
  shape.micro_batch = 1;
  shape.seq_len = 4096;
  const double T = 4096, h = 4096, inter = 14336, k = 2, L = 32, E = 8;
  std::vector<Op> fwd;
  SECTION("experts split in width over tp: every rank computes all T k rows on its 1/tp of each expert") {
    for (int tp : {1, 2}) {
      ParallelPlan plan;
      plan.tp = tp;
      builder.training_forward(m, shape, plan, fwd);
      const Op* gate_up = find(fwd, "experts_gate_up");
      const Op* down = find(fwd, "experts_down");
      REQUIRE(gate_up);
      REQUIRE(down);
      CHECK((gate_up->flops + down->flops) * gate_up->repeat == Approx(2 * T * k * 3 * h * inter / tp * L));
      // A 4,096-token micro-batch touches every expert: each rank reads all of its slices.
      CHECK(gate_up->weights.bytes == Approx(E * h * 2 * inter / tp * 2).epsilon(1e-9));
      CHECK_FALSE(find(fwd, "moe_dispatch"));
    }
  }
  SECTION("expert parallelism: one expert per rank of 8, the tokens' rows dispatched and combined by all-to-all") {
    ParallelPlan plan;
    plan.dp = 8;
    plan.ep = 8;
    builder.training_forward(m, shape, plan, fwd);
    const Op* gate_up = find(fwd, "experts_gate_up");
    REQUIRE(gate_up);
    // Balanced routing: the 8 ranks' T k rows spread evenly, T k per rank, on one whole expert.
    CHECK(gate_up->flops * gate_up->repeat == Approx(2 * T * k * 2 * inter * h * L));
    CHECK(gate_up->weights.bytes == Approx(h * 2 * inter * 2).epsilon(1e-9));
    for (const char* a2a : {"moe_dispatch", "moe_combine_a2a"}) {
      const Op* op = find(fwd, a2a);
      REQUIRE(op);
      CHECK(op->collective == Collective::all_to_all);
      CHECK(op->group == 8);
      CHECK(op->comm_bytes == Approx(T * k * h * 2));  // each token's hidden state to each of its k experts, BF16
    }
    // Backward: the all-to-alls again, and the rank's one expert's gradients accumulated in FP32.
    std::vector<Op> bwd;
    builder.training_backward(m, shape, plan, bwd);
    const Op* dispatch_grad = find(bwd, "moe_dispatch_dgrad");
    REQUIRE(dispatch_grad);
    CHECK(dispatch_grad->collective == Collective::all_to_all);
    const Op* wgrad = find(bwd, "experts_gate_up_wgrad");
    REQUIRE(wgrad);
    CHECK(wgrad->activations.bytes == Approx(gate_up->activations.bytes + 2 * (h * 2 * inter) * 4));
  }
}

TEST_CASE("moe training: parameters per rank, memory and model FLOPs follow the experts held and used",
          "[models][training][moe]") {
  const auto m = test::catalog_model("mixtral-8x7b");
  const double h = 4096, inter = 14336, L = 32, E = 8;
  const double experts = E * 3 * h * inter * L;
  models::TrainingShape shape;
  shape.layers = 32;
  ParallelPlan plan;
  CHECK(models::stage_parameters(m, plan, shape) == Approx(static_cast<double>(m.parameters())));
  plan.dp = plan.ep = 8;
  CHECK(models::stage_parameters(m, plan, shape) == Approx(static_cast<double>(m.parameters()) - experts * 7 / 8));
  // The memory model's count agrees: the whole model on one rank, one expert per layer at EP8.
  training::MemoryInputs in(m);
  in.seq_len = 4096;
  CHECK(training::rank_parameters(in).count == Approx(static_cast<double>(m.parameters())));
  in.plan.ep = 8;
  CHECK(training::rank_parameters(in).count == Approx(static_cast<double>(m.parameters()) - experts * 7 / 8));
  // Activations: a token keeps its k = 2 experts' inner tensors (3 x 14,336 each) and its k
  // permuted copies in and out, so an MoE layer keeps more than the dense MLP of one expert would.
  const training::LayerShape moe = training::LayerShape::of(m);
  training::LayerShape one = moe;
  one.experts = one.experts_per_token = 0;
  const double a_moe = training::activation_bytes_per_layer(moe, 4096, 1, {}, training::Recompute::none, 2);
  const double a_one = training::activation_bytes_per_layer(one, 4096, 1, {}, training::Recompute::none, 2);
  CHECK(a_moe - a_one == Approx(4096 * 2.0 * (2 * (3 * inter + 2 * h) + E - 3 * inter)));
  // Experts split in width over tp 2 (no EP): every rank keeps all T k rows' inner tensors at half
  // width, and the permuted copies and logits whole.
  ParallelPlan tp2;
  tp2.tp = 2;
  const double f2 = inter / 2;
  CHECK(training::activation_bytes_per_layer(moe, 4096, 1, tp2, training::Recompute::none, 2) -
            training::activation_bytes_per_layer(one, 4096, 1, tp2, training::Recompute::none, 2) ==
        Approx(4096 * 2.0 * (2 * (3 * f2 + 2 * h) + E - 3 * f2)));
  // Megatron's accounting counts the 2 routed experts of each token, not all 8: with all 8 the
  // model FLOPs would be higher by 6 x tokens x 6 experts' matrices x layers.
  const double flops = training::megatron_model_flops(m, 1, 4096);
  auto dense = m;
  dense.moe.experts_per_token = dense.moe.experts;
  CHECK(training::megatron_model_flops(dense, 1, 4096) - flops == Approx(6 * 4096 * (E - 2) * 3 * h * inter * L));
}

TEST_CASE("moe training: parallel folding, attention at tp 2 and the experts whole over ep 8", "[models][training][moe]") {
  // Megatron-Core's MoE parallel folding: with sequence parallelism each tensor-parallel rank routes
  // its T / tp tokens itself, so the routed experts need no tensor-parallel gather or reduction and
  // are whole on their rank (expert-TP 1); the ep group is 8 consecutive ranks of tp x dp.
  const auto m = test::catalog_model("mixtral-8x7b");
  const auto& builder = models::builder_for(m);
  const double T = 4096, h = 4096, inter = 14336, k = 2, L = 32, E = 8;
  const double experts = E * 3 * h * inter * L;
  models::TrainingShape shape;
  shape.micro_batch = 1;
  shape.seq_len = 4096;
  shape.layers = 32;
  ParallelPlan plan;
  plan.tp = 2;
  plan.sp = true;
  plan.dp = 4;
  plan.ep = 8;
  REQUIRE(plan.experts_fold_tp());
  CHECK(plan.expert_replicas() == 1);
  std::vector<Op> fwd;
  builder.training_forward(m, shape, plan, fwd);
  const Op* gate_up = find(fwd, "experts_gate_up");
  REQUIRE(gate_up);
  // Balanced routing: 8 ranks of T / 2 tokens, k rows each, over one whole expert per rank.
  CHECK(gate_up->flops * gate_up->repeat == Approx(2 * (T / 2) * k * 2 * inter * h * L));
  CHECK(gate_up->weights.bytes == Approx(h * 2 * inter * 2).epsilon(1e-9));
  for (const char* a2a : {"moe_dispatch", "moe_combine_a2a"}) {
    const Op* op = find(fwd, a2a);
    REQUIRE(op);
    CHECK(op->group == 8);
    CHECK(op->comm_bytes == Approx(T / 2 * k * h * 2));
  }
  CHECK(find(fwd, "attn_sp_all_gather"));  // attention keeps its tensor parallelism
  CHECK_FALSE(find(fwd, "mlp_sp_all_gather"));  // no dense MLP, no shared experts
  CHECK_FALSE(find(fwd, "mlp_tp_reduce"));
  // Backward accumulates the rank's one whole expert's gradients (FP32).
  std::vector<Op> bwd;
  builder.training_backward(m, shape, plan, bwd);
  const Op* wgrad = find(bwd, "experts_gate_up_wgrad");
  REQUIRE(wgrad);
  CHECK(wgrad->activations.bytes == Approx(gate_up->activations.bytes + 2 * (h * 2 * inter) * 4));

  // Parameters: everything but the routed experts split over tp, one whole expert per layer.
  const double folded = (static_cast<double>(m.parameters()) - experts) / 2 + experts / 8;
  CHECK(models::stage_parameters(m, plan, shape) == Approx(folded));
  CHECK(models::stage_expert_parameters(m, plan, shape) == Approx(experts / 8));
  training::MemoryInputs in(m);
  in.seq_len = 4096;
  in.plan = plan;
  // The memory model keeps the router and norms whole on each rank (stage_parameters splits them): +0.01%.
  CHECK(training::rank_parameters(in).count == Approx(folded).epsilon(2e-4));
  // ZeRO-1: dense states over dp 4, expert states over tp x dp / ep ranks (1 here, 2 at dp 8).
  const auto m0 = training::rank_memory(in);
  in.plan.zero = 1;
  const auto m1 = training::rank_memory(in);
  CHECK(m1.optimizer_states() == Approx((m0.optimizer_states() - m0.expert_states) / 4 + m0.expert_states));
  in.plan.dp = 8;
  const auto m2 = training::rank_memory(in);
  CHECK(m2.optimizer_states() == Approx((m0.optimizer_states() - m0.expert_states) / 8 + m0.expert_states / 2));

  // Activations: the MoE layer's routed tensors are half of the unfolded rank's (T / 2 tokens).
  const training::LayerShape moe = training::LayerShape::of(m);
  training::LayerShape one = moe;
  one.experts = one.experts_per_token = 0;
  ParallelPlan tp1;
  const auto per_layer = [](const training::LayerShape& l, const ParallelPlan& p) {
    return training::activation_bytes_per_layer(l, 4096, 1, p, training::Recompute::none, 2);
  };
  CHECK(per_layer(moe, plan) - per_layer(one, plan) == Approx((per_layer(moe, tp1) - per_layer(one, tp1)) / 2));
}

TEST_CASE("moe training: parallel folding keeps the shared experts and dense layers tensor-parallel", "[models][training][moe]") {
  // DeepSeek-V3: 3 dense layers, then 58 MoE layers with one shared expert (2,048 wide) each.
  const auto m = test::catalog_model("deepseek-v3");
  const auto& builder = models::builder_for(m);
  models::TrainingShape shape;
  shape.micro_batch = 1;
  shape.seq_len = 4096;
  shape.layers = 61;
  ParallelPlan plan;
  plan.tp = 2;
  plan.sp = true;
  plan.dp = 32;
  plan.ep = 64;
  std::vector<Op> fwd;
  builder.training_forward(m, shape, plan, fwd);
  const Op* gather = find(fwd, "mlp_sp_all_gather");
  REQUIRE(gather);
  CHECK(gather->repeat == 61);  // the dense MLPs and the shared experts run on the gathered sequence
  const Op* shared = find(fwd, "shared_experts_gate_up");
  REQUIRE(shared);
  CHECK(shared->repeat == 58);
  CHECK(shared->flops == Approx(2 * 4096.0 * 2 * (2048.0 / 2) * 7168));  // all T tokens, half the width
  const Op* router = find(fwd, "moe_router");
  REQUIRE(router);
  CHECK(router->flops == Approx(2 * 2048.0 * 256 * 7168));  // T / tp tokens routed here
}
