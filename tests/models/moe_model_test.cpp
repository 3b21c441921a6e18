// MoE and MLA models (Mixtral, Qwen3-MoE, DeepSeek-V3): parameter counts against the published
// totals, MLA's KV bytes per token, balanced gating, and the serving step's work.
#include <catch2/catch.hpp>

#include <algorithm>

#include "catalog_entries.hpp"
#include "models/step_ops.hpp"

using namespace hetsim;

namespace {
double gemm_flops(const models::ModelSpec& m, const models::BatchShape& b, int tp) {
  std::vector<Op> ops;
  models::step_ops(m, b, tp, ops);
  double f = 0;
  for (const Op& op : ops)
    if (op.cls == OpClass::gemm) f += op.flops * op.repeat;
  return f;
}
const Op& find(const std::vector<Op>& ops, std::string_view name) {
  auto it = std::find_if(ops.begin(), ops.end(), [&](const Op& o) { return o.name == name; });
  REQUIRE(it != ops.end());
  return *it;
}
}  // namespace

TEST_CASE("moe models: total and active parameters match the published figures", "[models][moe]") {
  // Mixtral 8x7B: 46,702,792,704 (safetensors metadata), 12.9B active (Mistral AI).
  const auto mixtral = test::catalog_model("mixtral-8x7b");
  CHECK(mixtral.parameters() == 46'702'792'704LL);
  CHECK(mixtral.active_parameters() == Approx(12.9e9).epsilon(0.005));
  // Qwen3-30B-A3B: 30,532,122,624 (safetensors metadata), 3.3B activated (model card).
  const auto qwen = test::catalog_model("qwen3-30b-a3b");
  CHECK(qwen.parameters() == 30'532'122'624LL);
  CHECK(qwen.active_parameters() == Approx(3.3e9).epsilon(0.02));
  // DeepSeek-V3: 671B total, 37B activated (technical report; the checkpoint's MTP module excluded).
  const auto ds = test::catalog_model("deepseek-v3");
  CHECK(ds.parameters() == Approx(671e9).epsilon(0.0005));
  CHECK(ds.active_parameters() >= 37e9);
  CHECK(ds.active_parameters() < 38e9);
  // A dense model uses every parameter for every token.
  const auto llama = test::catalog_model("llama-3-8b");
  CHECK(llama.active_parameters() == llama.parameters());
}

TEST_CASE("moe models: DeepSeek-V3 has 3 dense layers before its MoE layers", "[models][moe]") {
  const auto ds = test::catalog_model("deepseek-v3");
  const auto kinds = ds.layer_kinds();
  REQUIRE(kinds.size() == 2);
  CHECK(kinds[0].count == 3);
  CHECK(kinds[1].count == 58);
  CHECK(kinds[0].parameters == kinds[0].active_parameters);
  CHECK(kinds[1].parameters > 10 * kinds[1].active_parameters);
  const auto mixtral = test::catalog_model("mixtral-8x7b");
  REQUIRE(mixtral.layer_kinds().size() == 1);
  CHECK(mixtral.layer_kinds()[0].count == 32);
}

TEST_CASE("mla: KV bytes per token follow the latent, not the heads", "[models][moe]") {
  auto ds = test::catalog_model("deepseek-v3");
  // 61 layers x (512 latent + 64 RoPE key) x 2 bytes = 70,272 (DeepSeek-V3 report, FlashMLA).
  CHECK(ds.kv_bytes_per_token(1) == 70'272.0);
  // The latent is whole on every tensor-parallel rank (it is shared by all heads).
  CHECK(ds.kv_bytes_per_token(8) == 70'272.0);
  // 128 heads of MHA at the same widths would cache 2 x 61 x 128 x 128 x 2 = 3.9 MB: 57x more.
  CHECK(2.0 * 61 * 128 * 128 * 2 / ds.kv_bytes_per_token(1) > 56);
  ds.precision.kv = DType::fp8;
  CHECK(ds.kv_bytes_per_token(1) == 35'136.0);
}

TEST_CASE("moe: balanced gating spreads T*k/E tokens per expert and touches experts as 1-(1-k/E)^T",
          "[models][moe]") {
  const auto m = test::catalog_model("qwen3-30b-a3b").moe;  // 128 experts, top-8
  CHECK(models::balanced_tokens_per_expert(m, 1024) == 64.0);
  CHECK(models::balanced_experts_touched(m, 1) == Approx(8.0).epsilon(1e-12));
  CHECK(models::balanced_experts_touched(m, 16) == Approx(128 * (1 - std::pow(120.0 / 128, 16))).epsilon(1e-12));
  CHECK(models::balanced_experts_touched(m, 4096) == Approx(128.0).epsilon(1e-9));
  double last = 0;
  for (double t : {1.0, 2.0, 8.0, 32.0, 128.0, 512.0}) {
    const double e = models::balanced_experts_touched(m, t);
    CHECK(e > last);
    CHECK(e <= 128.0);
    CHECK(e <= 8 * t);
    last = e;
  }
}

TEST_CASE("moe: one decode token costs 2 FLOPs per active linear weight", "[models][moe]") {
  models::BatchShape one;
  one.add_decode(1);
  // Mixtral per layer: q/k/v/o 41,943,040; two of eight experts at 3 x 4096 x 14336; router 4096 x 8.
  const double mixtral_layer = 41'943'040.0 + 2 * 3 * 4096.0 * 14336 + 4096.0 * 8;
  CHECK(gemm_flops(test::catalog_model("mixtral-8x7b"), one, 1) ==
        Approx(2 * (32 * mixtral_layer + 32000.0 * 4096)).epsilon(1e-12));
  // DeepSeek-V3: MLA projections (absorbed or not, the same FLOPs per token), 3 dense MLPs, and
  // 8 routed + 1 shared experts with the 256-way router in the other 58 layers.
  const double mla = 7168.0 * (1536 + 512 + 64) + 1536.0 * 128 * 192 + 512.0 * 128 * 256 + 128.0 * 128 * 7168;
  const double dense_mlp = 3 * 7168.0 * 18432, moe = 9 * 3 * 7168.0 * 2048 + 7168.0 * 256;
  CHECK(gemm_flops(test::catalog_model("deepseek-v3"), one, 1) ==
        Approx(2 * (61 * mla + 3 * dense_mlp + 58 * moe + 129280.0 * 7168)).epsilon(1e-12));
}

TEST_CASE("moe: a decode step reads the experts its tokens touch, and tensor parallelism splits them",
          "[models][moe]") {
  const auto m = test::catalog_model("mixtral-8x7b");
  const double expert_gate_up = 4096.0 * 2 * 14336 * 2;  // bytes, bf16
  for (int batch : {1, 4, 64}) {
    INFO(batch);
    models::BatchShape b;
    for (int i = 0; i < batch; ++i) b.add_decode(100);
    std::vector<Op> ops;
    models::step_ops(m, b, 1, ops);
    const Op& gate_up = find(ops, "experts_gate_up");
    CHECK(gate_up.weights.bytes == Approx(models::balanced_experts_touched(m.moe, batch) * expert_gate_up));
    CHECK(gate_up.flops == Approx(2.0 * batch * 2 * 2 * 14336 * 4096));
    CHECK(gate_up.repeat == 32);
  }
  // One token reads 2 of 8 experts, 64 tokens nearly all 8.
  CHECK(models::balanced_experts_touched(m.moe, 1) == Approx(2.0));
  CHECK(models::balanced_experts_touched(m.moe, 64) > 7.99);
  // Weights per device: the two formulas (whole model; per tensor-parallel rank) agree at tp 1,
  // and tp 2 holds half plus the replicated norms and routers.
  for (const char* name : {"mixtral-8x7b", "qwen3-30b-a3b", "deepseek-v3"}) {
    INFO(name);
    const auto model = test::catalog_model(name);
    CHECK(model.weight_bytes_per_device(1) == Approx(model.weight_bytes()).epsilon(1e-12));
    CHECK(model.weight_bytes() == Approx(2.0 * static_cast<double>(model.parameters())).epsilon(1e-12));
    CHECK(model.weight_bytes_per_device(2) > model.weight_bytes() / 2);
    CHECK(model.weight_bytes_per_device(2) < model.weight_bytes() / 2 * 1.01);
  }
}

TEST_CASE("moe: a tensor-parallel degree must divide the experts' width", "[models][moe]") {
  const auto m = test::catalog_model("qwen3-30b-a3b");  // experts 768 wide, 32 heads, 4 KV heads
  CHECK(m.tensor_parallel_problem(4).empty());
  CHECK(m.tensor_parallel_problem(8).empty());  // 768 / 8 = 96; KV heads replicated
  CHECK_FALSE(m.tensor_parallel_problem(3).empty());
  auto bad = config::Document::load_string("model:\n  preset: mixtral-8x7b\n  num_experts_per_tok: 9\n", "m.yaml");
  auto layered = catalog::with_preset(bad.root(), "model", "models/catalog");
  REQUIRE_THROWS_WITH(models::parse_model(layered.node),
                      Catch::Contains("m.yaml:3: model.num_experts_per_tok = 9") && Catch::Contains("[1, 8]"));
}

TEST_CASE("moe: expert parallelism places whole experts, and the busiest rank sets the step", "[models][moe]") {
  auto m = test::catalog_model("qwen3-30b-a3b");  // 128 experts of width 768, top-8
  const double T = 40;
  // Balanced: each of 8 ranks computes T·k/8 rows and touches 1/8 of the experts touched.
  const auto balanced = models::busiest_expert_rank(m.moe, T, 8);
  CHECK(balanced.rows == Approx(T * 8 / 8));
  CHECK(balanced.touched == Approx(models::balanced_experts_touched(m.moe, T) / 8));
  const auto all = models::busiest_expert_rank(m.moe, T, 1);
  CHECK(all.rows == T * 8);
  // Explicit equal shares give the balanced figures.
  m.moe.expert_share.assign(128, 1.0 / 128);
  CHECK(models::busiest_expert_rank(m.moe, T, 8).rows == Approx(balanced.rows).epsilon(1e-12));
  CHECK(models::busiest_expert_rank(m.moe, T, 8).touched == Approx(balanced.touched).epsilon(1e-12));
  // Every token to expert 0 (and, k = 8, seven others on other ranks... capped at one pick each):
  // rank 0 computes those rows and touches few experts.
  m.moe.expert_share.assign(128, 0.0);
  m.moe.expert_share[0] = 0.5;
  m.moe.expert_share[1] = 0.5;
  const auto hot = models::busiest_expert_rank(m.moe, T, 8);
  CHECK(hot.rows == Approx(T * 8));
  CHECK(hot.touched == Approx(2.0));

  // The ops: whole experts under EP (width 768), split width under TP (768 / 8).
  auto plain = test::catalog_model("qwen3-30b-a3b");
  models::BatchShape b;
  for (int i = 0; i < 40; ++i) b.add_decode(500);
  ParallelPlan tp;
  tp.tp = 8;
  ParallelPlan ep = tp;
  ep.ep = 8;
  std::vector<Op> tp_ops, ep_ops;
  models::step_ops(plain, b, tp, tp_ops);
  models::step_ops(plain, b, ep, ep_ops);
  const Op& t = find(tp_ops, "experts_gate_up");
  const Op& e = find(ep_ops, "experts_gate_up");
  CHECK(t.flops == Approx(2.0 * 40 * 8 * (2 * 96) * 2048));
  CHECK(e.flops == Approx(2.0 * 5 * 8 * (2 * 768) * 2048));  // the same FLOPs per rank
  CHECK(t.weights.bytes == Approx(models::balanced_experts_touched(plain.moe, 40) * 2048 * 2 * 96 * 2));
  CHECK(e.weights.bytes == Approx(t.weights.bytes));  // the same bytes: 1/8 of each touched expert, or 1/8 of the experts
  CHECK(e.activations.bytes < t.activations.bytes);   // but only its own rows' activations
}

TEST_CASE("moe: attention data parallelism gives each rank its share and moves tokens to the experts by all-to-all",
          "[models][moe]") {
  const auto m = test::catalog_model("deepseek-v3");  // 256 routed experts, top-8, h = 7168, 58 MoE layers
  models::BatchShape b;
  for (int i = 0; i < 1000; ++i) b.add_decode(2000);
  ParallelPlan wide;
  wide.dp = 32;
  wide.ep = 32;
  std::vector<Op> ops;
  models::step_ops(m, b, wide, ops);
  // Each rank runs ceil(1000 / 32) = 32 tokens through attention and the dense parts.
  CHECK(find(ops, "attention_decode").kv.bytes ==
        Approx(b.share(32).decode_context_tokens * m.kv_bytes_per_token(1) / m.num_hidden_layers + 32 * m.kv_bytes_per_token(1) / m.num_hidden_layers)
            .epsilon(1e-9));
  // Dispatch and combine: each of its tokens' k hidden states out and back, in the comm dtype (bf16).
  const Op& dispatch = find(ops, "moe_dispatch");
  const Op& combine = find(ops, "moe_combine_a2a");
  CHECK(dispatch.collective == Collective::all_to_all);
  CHECK(dispatch.group == 32);
  CHECK(dispatch.comm_bytes == Approx(32.0 * 8 * 7168 * 2));
  CHECK(combine.comm_bytes == dispatch.comm_bytes);
  CHECK(dispatch.repeat == 58);
  // The experts see every rank's tokens: balanced, a rank's 8 experts get 32 x 32 x 8 / 32 rows.
  const Op& gate_up = find(ops, "experts_gate_up");
  CHECK(gate_up.flops == Approx(2.0 * (32 * 32 * 8 / 32.0) * (2 * 2048) * 7168));
  // Without data parallelism there is no all-to-all (the TP all-reduce sums the experts' outputs).
  ParallelPlan ep8;
  ep8.tp = 8;
  ep8.ep = 8;
  models::step_ops(m, b, ep8, ops);
  CHECK(std::none_of(ops.begin(), ops.end(), [](const Op& o) { return o.collective == Collective::all_to_all; }));
}

TEST_CASE("moe: wide expert parallelism spreads the routed experts, not the dense parts", "[models][moe]") {
  const auto m = test::catalog_model("deepseek-v3");
  const double routed = 256.0 * 3 * 2048 * 7168 * 58 * 2;  // bf16 routed experts, all MoE layers
  // One rank of 32 holds 1/32 of the routed experts and all of the rest.
  CHECK(m.weight_bytes_per_device(1) - m.weight_bytes_per_device(1, 32) == Approx(routed * (1 - 1.0 / 32)).epsilon(1e-9));
  // expert_ranks at or below tp changes nothing.
  CHECK(m.weight_bytes_per_device(8, 8) == m.weight_bytes_per_device(8));
}
