// Stage pricing: tensor-parallel communication overlap (Megatron's --tp-comm-overlap) pipelines
// each TP collective with its GEMM in tp chunks, so a pass's exposed TP time shrinks to 1/tp of
// what those collectives cost when every GEMM outlasts its collective, and compute is untouched.
#include <catch2/catch.hpp>

#include <string_view>

#include "catalog_entries.hpp"
#include "hw/cost_model.hpp"
#include "models/graph_builder.hpp"
#include "sim/training/stage_costs.hpp"

using namespace hetsim;

namespace {
training::TrainingJob job_of(const models::ModelSpec& m, int tp, bool sp, int pp, bool tp_overlap) {
  training::TrainingJob job;
  job.seq_len = 8192;
  job.global_batch = 8;
  job.micro_batch = 1;
  job.plan.tp = tp;
  job.plan.sp = sp;
  job.plan.pp = pp;
  job.stage_layers = models::default_stage_layers(m.num_hidden_layers, pp);
  job.overlap.tp_comm = tp_overlap;
  return job;
}
}  // namespace

TEST_CASE("stage costs: TP comm overlap leaves 1/tp of the paired collectives exposed and compute unchanged",
          "[training][stage_costs]") {
  const auto m = test::catalog_model("llama-3-70b");
  const hw::Device device = test::catalog_device("h100-sxm5-80gb");
  const hw::CostModel cost(device);
  for (const bool sp : {false, true}) {
    INFO("sp " << sp);
    // Stage 0 of two: its only collectives are the TP ones of each layer, each paired with a GEMM;
    // with SP each GEMM outlasts its all-gather or reduce-scatter at 8,192 tokens over NVLink.
    const auto plain = training::price_stages(m, job_of(m, 4, sp, 2, false), cost, 8);
    const auto overlapped = training::price_stages(m, job_of(m, 4, sp, 2, true), cost, 8);
    const auto& a = plain[0];
    const auto& b = overlapped[0];
    for (auto [p, q] : {std::pair{a.forward, b.forward}, std::pair{a.backward_input, b.backward_input}}) {
      REQUIRE(p.comm > 0);
      if (sp) {
        CHECK(q.comm == Approx(p.comm / 4).epsilon(1e-9));
      } else {
        // Without SP, a full all-reduce outlasts o_proj's GEMM: that pair hides only the GEMM's time.
        CHECK(q.comm > p.comm / 4);
        CHECK(q.comm < p.comm);
      }
      CHECK(q.seconds - q.comm == Approx(p.seconds - p.comm).epsilon(1e-12));  // compute unchanged
      CHECK(q.flops == p.flops);
    }
    CHECK(b.backward_weight.seconds == Approx(a.backward_weight.seconds).epsilon(1e-12));  // no collectives
  }
}

TEST_CASE("stage costs: TP comm overlap never hides more than the GEMMs last nor changes a TP-1 plan",
          "[training][stage_costs]") {
  const auto m = test::catalog_model("llama-3-8b");
  const hw::Device device = test::catalog_device("h100-sxm5-80gb");
  const hw::CostModel cost(device);
  for (int tp : {1, 2, 8}) {
    INFO("tp " << tp);
    const auto plain = training::price_stages(m, job_of(m, tp, tp > 1, 1, false), cost, 8);
    const auto overlapped = training::price_stages(m, job_of(m, tp, tp > 1, 1, true), cost, 8);
    const auto& a = plain[0].forward;
    const auto& b = overlapped[0].forward;
    CHECK(b.seconds <= a.seconds);
    CHECK(b.seconds >= a.seconds - a.comm);  // at best all communication hidden
    CHECK(b.comm >= 0);
    if (tp == 1) CHECK(b.seconds == a.seconds);
  }
}

TEST_CASE("stage costs: the context-parallel K/V ring runs under the attention it feeds", "[training][stage_costs]") {
  const auto m = test::catalog_model("llama-3-8b");
  const hw::Device device = test::catalog_device("h100-sxm5-80gb");
  const hw::CostModel cost(device);
  training::TrainingJob job = job_of(m, 1, false, 1, false);
  job.seq_len = 32768;
  job.plan.cp = 4;
  const auto stages = training::price_stages(m, job, cost, 8);
  // The same pass by hand: every op's time, the K/V exchange's own, the attention's.
  std::vector<Op> ops;
  models::builder_for(m).training_forward(m, job.shape(0), job.plan, ops);
  double all = 0, collectives = 0, kv = 0, attention = 0;
  for (Op& op : ops) {
    op.group_nodes = 1;  // four ranks, one node
    const double t = cost.time(op);
    all += t;
    if (op.cls == OpClass::collective) collectives += t;
    if (op.name == "cp_kv_all_gather") kv = t;
    if (op.name == "attention") attention = t;
  }
  REQUIRE(kv > 0);
  REQUIRE(attention > kv);  // 32k tokens: the attention outlasts its K/V exchange
  // The ring's cp steps pipeline the exchange with the attention blocks: 1/cp of it stays exposed.
  const double saving = kv * (1 - 1.0 / 4);
  CHECK(stages[0].forward.seconds == Approx(all - saving).epsilon(1e-12));
  CHECK(stages[0].forward.comm == Approx(collectives - saving).epsilon(1e-12));
}

TEST_CASE("stage costs: the MoE all-to-alls are counted apart as expert-parallel communication",
          "[training][stage_costs]") {
  const auto m = test::catalog_model("mixtral-8x7b");
  const hw::Device device = test::catalog_device("h100-sxm5-80gb");
  const hw::CostModel cost(device);
  training::TrainingJob job = job_of(m, 1, false, 1, false);
  job.seq_len = 4096;
  job.plan.dp = 8;
  job.plan.ep = 8;
  const auto stages = training::price_stages(m, job, cost, 8);
  std::vector<Op> ops;
  models::builder_for(m).training_forward(m, job.shape(0), job.plan, ops);
  double a2a = 0;
  for (Op& op : ops)
    if (op.cls == OpClass::collective && std::string_view(op.name).starts_with("moe_")) {
      op.group_nodes = 1;  // eight ranks, one node
      a2a += cost.time(op);
    }
  REQUIRE(a2a > 0);
  CHECK(stages[0].forward.ep_comm == Approx(a2a).epsilon(1e-12));
  CHECK(stages[0].forward.comm >= stages[0].forward.ep_comm);
  CHECK(stages[0].backward().ep_comm > 0);
  // A dense model has none.
  const auto dense = test::catalog_model("llama-3-8b");
  CHECK(training::price_stages(dense, job_of(dense, 2, false, 1, false), cost, 8)[0].forward.ep_comm == 0);
}

TEST_CASE("stage costs: EP all-to-all overlap takes max(compute, all-to-all) per pass", "[training][stage_costs][moe]") {
  // Mixtral at EP8 inside one node, and DeepSeek-V3 at EP64 over 8 nodes (its all-to-alls cross the
  // NICs and outlast the compute): with overlap each pass takes the larger of its compute and its
  // all-to-alls, and its other communication (none here: TP1) is unchanged.
  for (const char* name : {"mixtral-8x7b", "deepseek-v3"}) {
    INFO(name);
    const auto m = test::catalog_model(name);
    const hw::Device device = test::catalog_device("h100-sxm5-80gb");
    hw::CostModel cost(device);
    cost.set_scale_out({50e9, 1e-6, 1.0, 0});
    const bool wide = std::string_view(name) == "deepseek-v3";
    training::TrainingJob job = job_of(m, 1, false, wide ? 16 : 4, false);
    job.seq_len = 4096;
    job.plan.dp = job.plan.ep = wide ? 64 : 8;
    job.stage_layers = models::default_stage_layers(m.num_hidden_layers, job.plan.pp);
    const auto plain = training::price_stages(m, job, cost, 8);
    job.overlap.ep_comm = true;
    const auto overlapped = training::price_stages(m, job, cost, 8);
    const auto& a = plain[1];
    const auto& b = overlapped[1];
    for (auto [p, q] : {std::pair{a.forward, b.forward}, std::pair{a.backward_input, b.backward_input}}) {
      REQUIRE(p.ep_comm > 0);
      const double compute = p.seconds - p.comm;
      CHECK(q.seconds == Approx(std::max(compute, p.ep_comm) + (p.comm - p.ep_comm)).epsilon(1e-12));
      CHECK(q.ep_comm == Approx(std::max(0.0, p.ep_comm - compute)).margin(1e-15));
      CHECK(q.flops == p.flops);
    }
    if (wide) CHECK(b.forward.ep_comm > 0);  // 8 nodes over 50 GB/s NICs: the all-to-alls outlast the compute
  }
}

TEST_CASE("stage costs: expert TP gathers span etp consecutive ranks, the all-to-alls ep ranks etp apart",
          "[training][stage_costs][moe]") {
  // Mixtral at tp 2 (sequence parallel) x dp 8 = 16 ranks per stage on 8-GPU nodes, the experts
  // over ep 8 x etp 2: an expert-TP pair sits in one node, an expert-parallel group of 8 ranks 2
  // apart spans two nodes, so its all-to-alls cross the NICs.
  const auto m = test::catalog_model("mixtral-8x7b");
  const hw::Device device = test::catalog_device("h100-sxm5-80gb");
  hw::CostModel cost(device);
  cost.set_scale_out({50e9, 1e-6, 1.0, 0});
  training::TrainingJob job = job_of(m, 2, true, 1, false);
  job.seq_len = 4096;
  job.plan.dp = 8;
  job.plan.ep = 8;
  job.plan.etp = 2;
  const auto stages = training::price_stages(m, job, cost, 8);
  std::vector<Op> ops;
  models::builder_for(m).training_forward(m, job.shape(0), job.plan, ops);
  double moe = 0;
  int gathers = 0;
  for (Op& op : ops)
    if (op.cls == OpClass::collective && std::string_view(op.name).starts_with("moe_")) {
      const bool etp = std::string_view(op.name).starts_with("moe_etp_");
      gathers += etp;
      op.group_nodes = etp ? 1 : 2;
      moe += cost.time(op);
    }
  REQUIRE(gathers == 2);
  CHECK(stages[0].forward.ep_comm == Approx(moe).epsilon(1e-12));
  // Whole experts over ep 8 keep the group in one node: cheaper all-to-alls.
  job.plan.etp = 0;
  CHECK(training::price_stages(m, job, cost, 8)[0].forward.ep_comm < stages[0].forward.ep_comm);
}
