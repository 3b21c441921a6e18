// Training graphs of the dense builder against the standard FLOP accounting (Kaplan et al. 2020;
// Narayanan et al. SC'21): forward GEMMs do 2 FLOPs per parameter per token, backward twice that.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>

#include "catalog_entries.hpp"
#include "models/graph_builder.hpp"

using namespace hetsim;

namespace {
double sum(const std::vector<Op>& ops, OpClass cls, double Op::*field = &Op::flops) {
  double total = 0;
  for (const Op& op : ops)
    if (op.cls == cls) total += op.*field * op.repeat;
  return total;
}
int count(const std::vector<Op>& ops, Collective c) {
  double n = 0;
  for (const Op& op : ops)
    if (op.cls == OpClass::collective && op.collective == c) n += op.repeat;
  return static_cast<int>(n);
}
bool has(const std::vector<Op>& ops, std::string_view name) {
  for (const Op& op : ops)
    if (op.name == name) return true;
  return false;
}
}  // namespace

TEST_CASE("training graphs: GEMMs do 2 FLOPs per weight per token forward and 4 backward", "[models][training]") {
  const auto m = test::catalog_model("llama-3-8b");
  const auto& builder = models::builder_for(m);
  models::TrainingShape shape;
  shape.micro_batch = 2;
  shape.seq_len = 4096;
  const ParallelPlan plan;
  std::vector<Op> fwd, bwd;
  builder.training_forward(m, shape, plan, fwd);
  builder.training_backward(m, shape, plan, bwd);
  const double tokens = 2.0 * 4096;
  // Every weight but the embedding table (a lookup) and the norms multiplies each token once.
  const double n = static_cast<double>(m.parameters()) - static_cast<double>(m.vocab_size * m.hidden_size) -
                   static_cast<double>((2 * m.num_hidden_layers + 1) * m.hidden_size);
  CHECK(sum(fwd, OpClass::gemm) == Approx(2 * n * tokens).epsilon(1e-9));
  CHECK(sum(bwd, OpClass::gemm) == Approx(4 * n * tokens).epsilon(1e-9));
  // Causal attention: backward is 2.5x forward (FlashAttention: 5 matmuls against 2).
  CHECK(sum(bwd, OpClass::attention_prefill) == Approx(2.5 * sum(fwd, OpClass::attention_prefill)));
  // Input- and weight-gradient GEMMs are separate ops (zero-bubble schedules move the latter).
  CHECK(has(bwd, "qkv_proj_dgrad"));
  CHECK(has(bwd, "qkv_proj_wgrad"));
  CHECK_FALSE(has(bwd, "qkv_proj_recompute"));
}

TEST_CASE("training graphs: tensor parallelism splits GEMMs and mirrors its all-reduces in backward", "[models][training]") {
  const auto m = test::catalog_model("llama-3-8b");
  const auto& builder = models::builder_for(m);
  models::TrainingShape shape;
  shape.seq_len = 2048;
  ParallelPlan tp1, tp4;
  tp4.tp = 4;
  std::vector<Op> f1, f4, b4;
  builder.training_forward(m, shape, tp1, f1);
  builder.training_forward(m, shape, tp4, f4);
  builder.training_backward(m, shape, tp4, b4);
  CHECK(sum(f4, OpClass::gemm) == Approx(sum(f1, OpClass::gemm) / 4));
  CHECK(count(f4, Collective::all_reduce) == 2 * 32 + 1);  // two per layer + the loss
  CHECK(count(b4, Collective::all_reduce) == 2 * 32 + 1);
  SECTION("sequence parallelism: reduce-scatter + all-gather instead, norms on 1/tp of the tokens") {
    ParallelPlan sp = tp4;
    sp.sp = true;
    std::vector<Op> fs;
    builder.training_forward(m, shape, sp, fs);
    CHECK(count(fs, Collective::reduce_scatter) == 2 * 32);
    CHECK(count(fs, Collective::all_gather) == 2 * 32 + 1);
    CHECK(sum(fs, OpClass::elementwise) < sum(f4, OpClass::elementwise));
  }
}

TEST_CASE("training graphs: pipeline stages split the layers, the first embeds, the last computes the loss", "[models][training]") {
  const auto m = test::catalog_model("llama-3-8b");
  const auto& builder = models::builder_for(m);
  ParallelPlan pp;
  pp.pp = 4;
  models::TrainingShape first, last;
  first.seq_len = last.seq_len = 1024;
  last.stage = 3;
  std::vector<Op> f0, f3, all;
  builder.training_forward(m, first, pp, f0);
  builder.training_forward(m, last, pp, f3);
  builder.training_forward(m, first, ParallelPlan{}, all);
  CHECK(has(f0, "embedding"));
  CHECK_FALSE(has(f0, "lm_head"));
  CHECK(has(f3, "lm_head"));
  CHECK_FALSE(has(f3, "embedding"));
  const Op* q0 = nullptr;
  for (const Op& op : f0)
    if (op.name == "qkv_proj") q0 = &op;
  REQUIRE(q0);
  CHECK(q0->repeat == 8);  // 32 layers / 4 stages
}

TEST_CASE("training graphs: recompute, ZeRO gradient sync and the Adam step", "[models][training]") {
  const auto m = test::catalog_model("llama-3-8b");
  const auto& builder = models::builder_for(m);
  models::TrainingShape shape;
  shape.seq_len = 2048;
  ParallelPlan dp8;
  dp8.dp = 8;
  std::vector<Op> fwd, bwd, sync, opt;
  builder.training_forward(m, shape, dp8, fwd);
  SECTION("full recompute reruns the forward; selective only the attention") {
    shape.recompute = models::TrainingShape::Recompute::full;
    builder.training_backward(m, shape, dp8, bwd);
    CHECK(has(bwd, "qkv_proj_recompute"));
    shape.recompute = models::TrainingShape::Recompute::selective;
    builder.training_backward(m, shape, dp8, bwd);
    CHECK(has(bwd, "attention_recompute"));
    CHECK_FALSE(has(bwd, "qkv_proj_recompute"));
  }
  SECTION("full recompute reruns the decoder layers only, not the embedding or the LM head (Megatron)") {
    models::TrainingShape whole = shape;  // one stage: embedding, every layer, head and loss
    whole.recompute = models::TrainingShape::Recompute::full;
    builder.training_backward(m, whole, dp8, bwd);
    CHECK_FALSE(has(bwd, "lm_head_recompute"));
    CHECK_FALSE(has(bwd, "embedding_recompute"));
    CHECK_FALSE(has(bwd, "cross_entropy_recompute"));
    // The recompute's FLOPs are the forward's minus the LM head, loss and embedding.
    double recompute = 0, outside = 0;
    for (const Op& op : bwd)
      if (std::string_view(op.name).ends_with("_recompute")) recompute += op.flops * op.repeat;
    for (const Op& op : fwd)
      if (op.name == "lm_head" || op.name == "cross_entropy" || op.name == "embedding" || op.name == "final_norm")
        outside += op.flops * op.repeat;
    const double forward = std::accumulate(fwd.begin(), fwd.end(), 0.0,
                                           [](double a, const Op& op) { return a + op.flops * op.repeat; });
    CHECK(outside > 0);
    CHECK(recompute == Approx(forward - outside).epsilon(1e-12));
  }
  SECTION("block recompute of k layers reruns k / L of the layers' forward") {
    models::TrainingShape block = shape;
    block.recompute = models::TrainingShape::Recompute::full;
    auto recompute_flops = [&](std::int64_t k) {
      block.recompute_layers = k;
      builder.training_backward(m, block, dp8, bwd);
      double f = 0;
      for (const Op& op : bwd)
        if (std::string_view(op.name).ends_with("_recompute")) f += op.flops * op.repeat;
      return f;
    };
    const double all = recompute_flops(-1);
    const double L = static_cast<double>(m.num_hidden_layers);
    CHECK(all > 0);
    CHECK(recompute_flops(0) == 0);
    CHECK(recompute_flops(8) == Approx(all * 8 / L).epsilon(1e-12));
    CHECK(recompute_flops(1000) == Approx(all).epsilon(1e-12));  // capped at the stage's layers
  }
  SECTION("ZeRO-0 all-reduces fp32 gradients; ZeRO-1 reduce-scatters them and all-gathers the parameters") {
    builder.gradient_sync(m, shape, dp8, sync);
    REQUIRE(sync.size() == 1);
    CHECK(sync[0].collective == Collective::all_reduce);
    CHECK(sync[0].comm_bytes == Approx(4.0 * static_cast<double>(m.parameters())));
    ParallelPlan z1 = dp8;
    z1.zero = 1;
    builder.gradient_sync(m, shape, z1, sync);
    REQUIRE(sync.size() == 2);
    CHECK(sync[0].collective == Collective::reduce_scatter);
    CHECK(sync[1].collective == Collective::all_gather);
    builder.optimizer_step(m, shape, z1, opt);
    REQUIRE(opt.size() == 1);
    // Adam touches 30 bytes per parameter (fp32 master, grad, m, v; bf16 copy) of its 1/dp shard.
    CHECK(opt[0].activations.bytes == Approx(30.0 * static_cast<double>(m.parameters()) / 8));
  }
  SECTION("ZeRO-3 gathers each layer's parameters in forward and again in backward") {
    ParallelPlan z3 = dp8;
    z3.zero = 3;
    builder.training_forward(m, shape, z3, fwd);
    builder.training_backward(m, shape, z3, bwd);
    CHECK(has(fwd, "zero3_param_all_gather"));
    CHECK(has(bwd, "zero3_param_all_gather_bwd"));
    builder.gradient_sync(m, shape, z3, sync);
    REQUIRE(sync.size() == 1);
    CHECK(sync[0].collective == Collective::reduce_scatter);
  }
}

TEST_CASE("training graphs: the default partition is as even as possible, first and last stages lighter", "[models][training]") {
  using V = std::vector<std::int64_t>;
  CHECK(models::default_stage_layers(32, 4) == V{8, 8, 8, 8});
  // Llama 3 405B over 16 stages (Dubey et al. 2024, §3.3.2: one layer fewer on the first and last).
  V llama(16, 8);
  llama.front() = llama.back() = 7;
  CHECK(models::default_stage_layers(126, 16) == llama);
  CHECK(models::default_stage_layers(7, 3) == V{2, 3, 2});
  CHECK(models::default_stage_layers(8, 3) == V{2, 3, 3});
  CHECK(models::default_stage_layers(5, 1) == V{5});
  for (int stages : {2, 3, 5, 16, 24})
    for (std::int64_t layers : {24, 61, 80, 96, 126}) {
      const V split = models::default_stage_layers(layers, stages);
      CHECK(std::accumulate(split.begin(), split.end(), std::int64_t{0}) == layers);
      CHECK(*std::max_element(split.begin(), split.end()) - *std::min_element(split.begin(), split.end()) <= 1);
    }
}
