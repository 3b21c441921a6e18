// DeepSeek-style training graphs: multi-head latent attention (no cache in training: each token's
// latent is expanded to per-head K and V), the leading dense layers that fall in a pipeline stage's
// layer range, and the shared experts. Checked against the model's own parameter counts (which
// moe_model_test pins to the published 671B / 37B): the forward's GEMM FLOPs are 2 x tokens x the
// linear weights a token uses, the stages' parameters add up to the model's, the memory model
// counts the same parameters, and Megatron's FLOP count uses MLA's attention widths.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>

#include "catalog_entries.hpp"
#include "op_lookup.hpp"
#include "models/graph_builder.hpp"
#include "sim/training/stage_costs.hpp"
#include "sim/training/training_memory.hpp"

using namespace hetsim;

namespace {
const Op* find(const std::vector<Op>& ops, std::string_view name) { return test::find_op(ops, name); }
/// GEMM FLOPs of the decoder layers (everything but the LM head and the router, which
/// ModelSpec's linear parameters leave out), all repeats.
double decoder_gemm_flops(const std::vector<Op>& ops) {
  double f = 0;
  for (const Op& op : ops)
    if (op.cls == OpClass::gemm && !std::string_view(op.name).starts_with("lm_head") &&
        !std::string_view(op.name).starts_with("moe_router"))
      f += op.flops * op.repeat;
  return f;
}
}  // namespace

TEST_CASE("mla training: the forward's GEMMs are 2 x tokens x the linear weights a token uses", "[models][training][mla]") {
  const auto m = test::catalog_model("deepseek-v3");
  const auto& builder = models::builder_for(m);
  models::TrainingShape shape;  // one stage: every layer
  shape.seq_len = 4096;
  const double T = 4096, E = 256, k = 8, h = 7168, moe_layers = 58;
  std::vector<Op> fwd;
  builder.training_forward(m, shape, {}, fwd);
  double linear = 0;
  for (const auto& kind : m.layer_kinds()) linear += static_cast<double>(kind.count * kind.linear_parameters);
  const double unused_experts = (E - k) * 3 * h * 2048 * moe_layers;  // balanced routing: k of E per token
  CHECK(decoder_gemm_flops(fwd) == Approx(2 * T * (linear - unused_experts)).epsilon(1e-12));
  // The MLA projections are there, with K and V expanded for every token (no cache in training),
  // and the attention core is qk 192 / v 128 wide per head: 2 x (192 + 128) x heads x causal pairs.
  for (const char* name : {"qkv_a_proj", "latent_norms", "q_b_proj", "kv_b_proj"}) CHECK(find(fwd, name));
  CHECK_FALSE(find(fwd, "qkv_proj"));
  const Op* attention = find(fwd, "attention");
  REQUIRE(attention);
  CHECK(attention->flops * attention->repeat == Approx(2 * (192 + 128) * 128 * T * (T + 1) / 2 * 61));
  const Op* kv_b = find(fwd, "kv_b_proj");
  REQUIRE(kv_b);
  CHECK(kv_b->flops == Approx(2 * T * 512 * 128 * (128 + 128)));
  // Three dense MLPs and 58 MoE layers with their shared expert.
  REQUIRE(find(fwd, "gate_up_proj"));
  CHECK(find(fwd, "gate_up_proj")->repeat == 3);
  REQUIRE(find(fwd, "shared_experts_gate_up"));
  CHECK(find(fwd, "shared_experts_gate_up")->repeat == moe_layers);
  // Backward: every GEMM's input and weight gradient, twice the forward's GEMM FLOPs.
  std::vector<Op> bwd;
  builder.training_backward(m, shape, {}, bwd);
  CHECK(decoder_gemm_flops(bwd) == Approx(2 * decoder_gemm_flops(fwd)));
  const Op* wgrad = find(bwd, "q_b_proj_wgrad");
  REQUIRE(wgrad);
  // Accumulates q_b's 1536 x 128 x 192 weight gradients in FP32 (read + write).
  CHECK(wgrad->activations.bytes - find(fwd, "q_b_proj")->activations.bytes == Approx(2 * 1536.0 * 128 * 192 * 4));
}

TEST_CASE("mla training: a pipeline stage runs the dense or MoE MLP of the layers in its range", "[models][training][mla]") {
  const auto m = test::catalog_model("deepseek-v3");
  const auto& builder = models::builder_for(m);
  ParallelPlan plan;
  plan.pp = 16;
  // 61 layers over 16 stages: 3, 4 x 13, 3, 3; stage 0 holds the three dense layers only.
  models::TrainingShape first;
  first.seq_len = 4096;
  first.stage = 0;
  std::vector<Op> fwd;
  builder.training_forward(m, first, plan, fwd);
  CHECK(models::stage_layers(m, plan, first) == 3);
  REQUIRE(find(fwd, "gate_up_proj"));
  CHECK(find(fwd, "gate_up_proj")->repeat == 3);
  CHECK_FALSE(find(fwd, "experts_gate_up"));
  models::TrainingShape second = first;
  second.stage = 1;
  CHECK(models::stage_first_layer(m, plan, second) == 3);
  builder.training_forward(m, second, plan, fwd);
  CHECK_FALSE(find(fwd, "gate_up_proj"));
  REQUIRE(find(fwd, "experts_gate_up"));
  CHECK(find(fwd, "experts_gate_up")->repeat == 4);
  // A custom split that straddles the boundary: layers 1..4 are two dense and two MoE layers.
  models::TrainingShape straddle = second;
  straddle.first_layer = 1;
  straddle.layers = 4;
  CHECK(models::stage_dense_layers(m, plan, straddle) == 2);
  builder.training_forward(m, straddle, plan, fwd);
  CHECK(find(fwd, "gate_up_proj")->repeat == 2);
  CHECK(find(fwd, "experts_gate_up")->repeat == 2);

  // The stages' parameters add up to the model's (an untied head: no extra copy), and under EP8
  // each rank keeps 32 of the 256 routed experts of each of its MoE layers.
  const double routed = 256.0 * 3 * 7168 * 2048 * 58;
  for (int ep : {1, 8}) {
    plan.dp = plan.ep = ep;
    double total = 0, experts = 0;
    for (int s = 0; s < 16; ++s) {
      models::TrainingShape t = first;
      t.stage = s;
      total += models::stage_parameters(m, plan, t);
      experts += models::stage_expert_parameters(m, plan, t);
    }
    CHECK(total == Approx(static_cast<double>(m.parameters()) - routed * (1 - 1.0 / ep)).epsilon(1e-12));
    CHECK(experts == Approx(routed / ep));
  }
}

TEST_CASE("mla training: memory counts the model's parameters and MLA's activations", "[models][training][mla][memory]") {
  const auto m = test::catalog_model("deepseek-v3");
  training::MemoryInputs in(m);
  in.seq_len = 4096;
  in.layers = 61;
  CHECK(training::rank_parameters(in).count == Approx(static_cast<double>(m.parameters())).epsilon(1e-12));
  // Stage 0 of PP16: the embedding and the three dense layers.
  in.layers = 3;
  in.dense_layers = 3;
  in.holds_lm_head = false;
  ParallelPlan plan;
  plan.pp = 16;
  models::TrainingShape stage0;
  stage0.stage = 0;
  CHECK(training::rank_parameters(in).count == Approx(models::stage_parameters(m, plan, stage0)).epsilon(1e-12));

  // Activations per token of one MoE layer (fused attention, BF16, TP1, no recompute): the
  // norms' and GEMM inputs (4h), Q and K (128 x 192 each), V and the output (128 x 128 each), the
  // latents with their norms' inputs (2 x (1536 + 512)), 8 experts' gate, up and product
  // (3 x 2048) with the token's permuted copies in and out (2h) each, the router's 256 logits, the
  // shared expert's 3 x 2048, and the attention's fp32 log-sum-exp per head.
  training::LayerShape layer = training::LayerShape::of(m);
  layer.fused_attention = true;
  const double h = 7168;
  const double per_token = 2 * (4 * h + 2 * 128 * 192 + 2 * 128 * 128 + 2 * (1536 + 512) + 8 * (3 * 2048 + 2 * h) +
                                256 + 3 * 2048) +
                           4 * 128;
  CHECK(training::activation_bytes_per_layer(layer, 4096, 1, {}, training::Recompute::none, 2) ==
        Approx(4096 * per_token));
  // A dense layer keeps the 18,432-wide SwiGLU's three tensors instead of the experts'.
  const double dense_token = per_token - 2 * (8 * (3 * 2048 + 2 * h) + 256 + 3 * 2048) + 2 * 3 * 18432;
  CHECK(training::activation_bytes_per_layer(layer.dense(), 4096, 1, {}, training::Recompute::none, 2) ==
        Approx(4096 * dense_token));
}

TEST_CASE("mla training: Megatron's model FLOPs count MLA's attention widths", "[models][training][mla]") {
  const auto m = test::catalog_model("deepseek-v3");
  // Megatron's num_floating_point_operations for MLA: the core attention term per layer and token
  // is s x heads x (qk_head_dim + v_head_dim) multiply-adds (non-causal), x 2 FLOPs x 3 passes.
  CHECK(training::megatron_attention_flops(m, 1, 4096) == Approx(3 * 2.0 * 4096 * 4096 * 61 * 128 * (192 + 128)));
  // The rest is 6 x tokens x the parameters a token uses (37B active, less the embedding, the
  // routers and the norms, which Megatron does not count, and with the LM head).
  const double rest = training::megatron_model_flops(m, 1, 4096) - training::megatron_attention_flops(m, 1, 4096);
  CHECK(rest / (6 * 4096) == Approx(static_cast<double>(m.active_parameters())).epsilon(0.03));
}

TEST_CASE("mla training: selective recompute of Megatron-Core's modules recomputes and drops what it names",
          "[models][training][mla][memory]") {
  const auto m = test::catalog_model("deepseek-v3");
  const auto& builder = models::builder_for(m);
  using M = models::RecomputeModule;
  models::TrainingShape shape;
  shape.seq_len = 4096;
  shape.recompute = models::TrainingShape::Recompute::selective;
  shape.recompute_modules = M::layernorm | M::mla_up_proj | M::moe_act;  // DeepSeek-V3's (Technical Report §3.2.3, §3.3.3)
  std::vector<Op> fwd, bwd;
  builder.training_forward(m, shape, {}, fwd);
  builder.training_backward(m, shape, {}, bwd);
  std::set<std::string> recomputed;
  double recompute_flops = 0;
  for (const Op& op : bwd)
    if (std::string_view(op.name).ends_with("_recompute")) {
      recomputed.insert(std::string(op.name));
      recompute_flops += op.flops * op.repeat;
    }
  CHECK(recomputed == std::set<std::string>{"input_norm_recompute", "post_attention_norm_recompute", "latent_norms_recompute",
                                            "q_b_proj_recompute", "kv_b_proj_recompute", "rope_recompute",
                                            "experts_silu_mul_recompute"});
  double expected = 0;
  for (const Op& op : fwd)
    if (models::recomputes(shape.recompute_modules, op.name, op.cls)) expected += op.flops * op.repeat;
  CHECK(recompute_flops == Approx(expected));
  CHECK(recompute_flops == Approx(2 * 4096.0 * 61 * (1536.0 * 128 * 192 + 512.0 * 128 * 256)).epsilon(0.01));  // mostly the up-projections
  // Recomputing the whole MoE MLP recomputes its all-to-alls too (under EP).
  ParallelPlan ep;
  ep.dp = ep.ep = 8;
  shape.recompute_modules = M::moe;
  builder.training_backward(m, shape, ep, bwd);
  CHECK(std::any_of(bwd.begin(), bwd.end(), [](const Op& op) { return op.name == "moe_dispatch_recompute"; }));

  // Memory per token of one MoE layer (BF16, TP1, fused attention): each module drops its tensors.
  training::LayerShape layer = training::LayerShape::of(m);
  layer.fused_attention = true;
  const double h = 7168, k = 8, f = 2048;
  const auto per_token = [&](unsigned modules, training::Recompute r = training::Recompute::selective) {
    return training::activation_bytes_per_layer(layer, 4096, 1, {}, r, 2, modules) / 4096;
  };
  const double none = per_token(0, training::Recompute::none);
  CHECK(none - per_token(M::core_attn) == Approx(4 * 128));                      // the fp32 log-sum-exp per head
  CHECK(none - per_token(M::layernorm) == Approx(2 * (2 * h + 1536 + 512)));      // the norms' outputs
  CHECK(none - per_token(M::mla_up_proj) == Approx(2 * (2 * 128 * 192 + 128 * 128)));  // Q, K, V per head
  CHECK(none - per_token(M::moe_act) == Approx(2 * k * f));                       // SwiGLU's product per expert
  CHECK(none - per_token(M::shared_experts) == Approx(2 * 3 * f));
  CHECK(none - per_token(M::moe) == Approx(2 * (k * (3 * f + 2 * h) + 256 + 3 * f)));
  CHECK(per_token(M::mlp) == Approx(per_token(0)));  // no dense MLP in an MoE layer
  // DeepSeek's FP8 cache keeps the GEMMs' inputs (the norms' outputs, which the shared expert reads
  // too, the latents' up-projection inputs, the attention output, the experts' permuted inputs and
  // the down projections' inputs) and the routed experts' SwiGLU inputs at 1 byte instead of 2.
  layer.fp8_cache_bytes = 1;
  const double cached = 2 * h + 1536 + 512 + 128 * 128 + k * (h + 3 * f) + 2048;
  CHECK(none - per_token(0, training::Recompute::none) == Approx(cached));
}

TEST_CASE("mla training: BF16 Adam moments halve the moments' memory and traffic", "[models][training][mla][memory]") {
  const auto m = test::catalog_model("deepseek-v3");
  models::TrainingShape shape;
  shape.seq_len = 4096;
  std::vector<Op> fp32, bf16;
  models::builder_for(m).optimizer_step(m, shape, {}, fp32);
  shape.moment_dtype = DType::bf16;
  models::builder_for(m).optimizer_step(m, shape, {}, bf16);
  REQUIRE(fp32.size() == 1);
  const double params = static_cast<double>(m.parameters());
  CHECK(fp32[0].activations.bytes - bf16[0].activations.bytes == Approx(8 * params));  // m and v read and written at 2 B, not 4
  training::MemoryInputs in(m);
  in.seq_len = 4096;
  in.layers = 61;
  const double moments32 = training::rank_memory(in).optimizer_moments;
  in.optimizer_moment_bytes = 4;
  CHECK(training::rank_memory(in).optimizer_moments == Approx(moments32 / 2));
}
