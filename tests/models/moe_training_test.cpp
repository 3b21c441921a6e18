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
  // Megatron's accounting counts the 2 routed experts of each token, not all 8: with all 8 the
  // model FLOPs would be higher by 6 x tokens x 6 experts' matrices x layers.
  const double flops = training::megatron_model_flops(m, 1, 4096);
  auto dense = m;
  dense.moe.experts_per_token = dense.moe.experts;
  CHECK(training::megatron_model_flops(dense, 1, 4096) - flops == Approx(6 * 4096 * (E - 2) * 3 * h * inter * L));
}
