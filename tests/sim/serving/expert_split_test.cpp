// Routed experts on PIM in the GPUs' own memory (Duplex, offload impl duplex): the split of experts
// by expected rows, the co-processed split as the best of every prefix, and a step on an idle
// platform as GPU ops + PIM attention + PIM experts with nothing on a link; mixed steps keep the
// experts on the GPU; bad plans are key-path errors.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "catalog_entries.hpp"
#include "hw/cost_model.hpp"
#include "sim/scenario/offload_config.hpp"
#include "sim/serving/expert_split.hpp"
#include "sim/serving/step_pricer.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

models::ModelSpec mixtral_fp16() {
  models::ModelSpec m = test::catalog_model("mixtral-8x7b");
  m.precision = models::Precision::all(DType::fp16);
  return m;
}

std::shared_ptr<const serving::OffloadPlan> duplex(const models::ModelSpec& m, const hw::Device& gpu, int tp,
                                                   const std::string& extra = "") {
  auto d = config::Document::load_string(fmt::format("cluster: {{offload: {{impl: duplex{}}}}}\n", extra), "s.yaml");
  return sim::parse_offload(d.root().child("cluster"), m, gpu, tp);
}

models::BatchShape decode_batch(int seqs, int context) {
  models::BatchShape b;
  for (int i = 0; i < seqs; ++i) b.add_decode(context + 37 * i);
  return b;
}

/// `op` as one of `count` PIM stacks runs a rank's share of a degree-`tp` instance's work.
double on_stack(Op op, const hw::Device& pim, int tp, int count) {
  const double s = static_cast<double>(tp) / count;
  op.flops *= s, op.weights.bytes *= s, op.activations.bytes *= s, op.kv.bytes *= s, op.units *= s;
  op.weights.tier = op.activations.tier = op.kv.tier = kHomeTier;
  return hw::CostModel(pim).time(op);
}

}  // namespace

TEST_CASE("expert split: balanced experts share rows and reads evenly, skewed ones are ordered by rows", "[serving][duplex]") {
  models::MoeSpec moe;
  moe.experts = 8, moe.experts_per_token = 2, moe.intermediate = 14336;
  const serving::ExpertRows balanced(moe, 48);
  REQUIRE(balanced.experts() == 8);
  for (std::size_t n = 0; n <= 8; ++n) {
    CHECK(balanced.row_share(n) == Approx(n / 8.0));
    CHECK(balanced.read_share(n) == Approx(n / 8.0));
  }
  moe.expert_share = {0.30, 0.05, 0.20, 0.05, 0.10, 0.10, 0.15, 0.05};
  const serving::ExpertRows skewed(moe, 4);
  // Fewest rows first: the three 5% experts take 15% of the rows, and more than 15% of the reads
  // (a rarely picked expert is read whenever one token picks it).
  CHECK(skewed.row_share(3) == Approx(0.15));
  CHECK(skewed.read_share(3) > 0.15);
  CHECK(skewed.row_share(8) == Approx(1.0));
  // Rows per expert never fall along the order.
  for (std::size_t n = 1; n < 8; ++n)
    CHECK(skewed.row_share(n + 1) - skewed.row_share(n) >= skewed.row_share(n) - skewed.row_share(n - 1) - 1e-12);
}

TEST_CASE("expert split: co-processing picks the best prefix and beats either side alone", "[serving][duplex]") {
  const models::ModelSpec m = mixtral_fp16();
  const hw::Device gpu = test::catalog_device("h100-sxm5-80gb");
  const hw::Device pim = test::catalog_device("duplex-logic-pim");
  ParallelPlan plan;
  plan.tp = 4;
  for (int seqs : {8, 64, 512}) {
    INFO(fmt::format("{} tokens", seqs));
    std::vector<Op> ops, experts;
    models::builder_for(m).serving_step(m, decode_batch(seqs, 2000), plan, ops);
    for (const Op& op : ops)
      if (serving::is_routed_expert_op(op)) experts.push_back(op);
    REQUIRE(experts.size() == 3);  // gate_up, silu_mul, down
    const serving::ExpertRows rows(m.moe, seqs);
    const auto g = [&](const Op& op) { return hw::CostModel(gpu).time(op); };
    const auto p = [&](const Op& op) { return on_stack(op, pim, 4, 20); };
    const serving::ExpertSplit best = serving::co_process_experts(experts, rows, g, p);
    double brute = std::numeric_limits<double>::infinity();
    for (std::size_t n = 0; n <= rows.experts(); ++n) brute = std::min(brute, serving::split_experts(experts, rows, n, g, p).time());
    CHECK(best.time() == Approx(brute).epsilon(1e-12));
    const double all_gpu = serving::split_experts(experts, rows, 0, g, p).time();
    const double all_pim = serving::split_experts(experts, rows, rows.experts(), g, p).time();
    CHECK(best.time() <= std::min(all_gpu, all_pim));
    // Every expert on one side: that side's time is the ops' sum there, the other side's zero.
    double gpu_sum = 0;
    for (const Op& op : experts) gpu_sum += g(op);
    CHECK(all_gpu == Approx(gpu_sum).epsilon(1e-12));
    CHECK(serving::split_experts(experts, rows, 0, g, p).offload == 0);
  }
}

TEST_CASE("duplex: a decode step is GPU ops + PIM attention + PIM experts, with nothing on a link", "[serving][duplex]") {
  const models::ModelSpec m = mixtral_fp16();
  const hw::Device gpu = test::catalog_device("h100-sxm5-80gb");
  const hw::ServingStack stack;  // no host work: the step is the device time
  ParallelPlan plan;
  plan.tp = 4;
  const auto offload = duplex(m, gpu, 4);
  REQUIRE(offload);
  CHECK(offload->count == 20);  // five stacks per GPU
  CHECK(offload->in_gpu_memory);
  CHECK(offload->experts == serving::ExpertsOn::offload_in_decode);
  const models::BatchShape b = decode_batch(64, 3000);
  serving::StepPricer pricer(m, plan, gpu, {}, stack, offload);
  const double step = pricer.price(b);
  CHECK(pricer.last_offload_bytes() == 0);

  serving::StepPricer plain(m, plan, gpu, {}, stack);
  const serving::StepExplanation x = plain.explain(b);
  const hw::Device& pim = *offload->device;
  double g = 0, a = 0, e = 0;
  for (const auto& c : x.ops) {
    if (c.op.cls == OpClass::attention_decode) a += on_stack(c.op, pim, 4, 20);
    else if (serving::is_routed_expert_op(c.op)) e += on_stack(c.op, pim, 4, 20);
    else g += c.time;
  }
  CHECK(step == Approx(g + a + e).epsilon(1e-12));
  CHECK(pricer.last_offload() == Approx(a + e).epsilon(1e-12));
  // The experts read at 4x the HBM bandwidth: the step beats the GPU's own.
  CHECK(step < x.step);

  // A mixed step keeps the experts (and the prefill's attention) on the GPU.
  models::BatchShape mixed = b;
  mixed.add_prefill(512, 0, true);
  const double mixed_step = pricer.price(mixed);
  const serving::StepExplanation mx = plain.explain(mixed);
  double mg = 0, ma = 0;
  for (const auto& c : mx.ops) {
    if (c.op.cls == OpClass::attention_decode) ma += on_stack(c.op, pim, 4, 20);
    else mg += c.time;
  }
  CHECK(mixed_step == Approx(mg + ma).epsilon(1e-12));

  // Co-processed experts (Duplex+PE) are never slower than either side alone.
  const auto co = duplex(m, gpu, 4, ", experts: co_process");
  serving::StepPricer co_pricer(m, plan, gpu, {}, stack, co);
  CHECK(co_pricer.price(b) <= step * (1 + 1e-12));
  CHECK(co_pricer.price(mixed) <= mixed_step * (1 + 1e-12));
  CHECK(co_pricer.last_offload() > 0);
  // Experts kept on the GPU: the step is the GPU's own but for decode attention.
  const auto attention_only = duplex(m, gpu, 4, ", experts: gpu");
  serving::StepPricer ao(m, plan, gpu, {}, stack, attention_only);
  CHECK(ao.price(b) == Approx(g + a + [&] {
          double s = 0;
          for (const auto& c : x.ops)
            if (serving::is_routed_expert_op(c.op)) s += c.time;
          return s;
        }()).epsilon(1e-12));
}

TEST_CASE("duplex: key errors name the key and why", "[serving][duplex]") {
  const models::ModelSpec m = mixtral_fp16();
  const hw::Device gpu = test::catalog_device("h100-sxm5-80gb");
  auto parse = [&](const models::ModelSpec& model, const std::string& yaml) {
    auto d = config::Document::load_string(yaml, "s.yaml");
    return sim::parse_offload(d.root().child("cluster"), model, gpu, 2);
  };
  // Only PIM in the GPUs' memory holds the experts.
  CHECK_THROWS_WITH(parse(m, "cluster: {offload: {impl: lamina, experts: decode}}\n"),
                    Contains("cluster.offload.experts") && Contains("only PIM in that memory"));
  // A dense model has no experts to place, and without the key takes Duplex's attention only.
  models::ModelSpec dense = test::catalog_model("llama-3.1-8b");
  dense.precision = models::Precision::all(DType::fp16);
  CHECK_THROWS_WITH(parse(dense, "cluster: {offload: {impl: duplex, experts: co_process}}\n"),
                    Contains("cluster.offload.experts") && Contains("no routed experts"));
  CHECK(parse(dense, "cluster: {offload: {impl: duplex}}\n")->experts == serving::ExpertsOn::gpu);
  // Nothing crosses a link, and the KV cache stays in the GPUs' memory.
  CHECK_THROWS_WITH(parse(m, "cluster: {offload: {impl: duplex, link: {bandwidth: 10 GB/s}}}\n"),
                    Contains("cluster.offload.link") && Contains("GPUs' own memory"));
  CHECK_THROWS_WITH(parse(m, "cluster: {offload: {impl: duplex, kv_memory: 10 GB}}\n"), Contains("cluster.offload.kv_memory"));
  CHECK_THROWS_WITH(parse(m, "cluster: {offload: {impl: duplex, gpu_kv: true}}\n"), Contains("cluster.offload.gpu_kv"));
  CHECK(parse(m, "cluster: {offload: {impl: duplex, gpu_kv: false}}\n"));  // as resolved.yaml writes it
  CHECK_THROWS_WITH(parse(m, "cluster: {offload: {impl: duplex, experts: sometimes}}\n"), Contains("cluster.offload.experts"));
  // Logic-PIM computes in FP16 only.
  CHECK_THROWS_WITH(parse(test::catalog_model("mixtral-8x7b"), "cluster: {offload: {impl: duplex}}\n"),
                    Contains("bf16") && Contains("duplex-logic-pim"));
  CHECK_THROWS_WITH(parse(m, "cluster: {offload: {impl: duplex, pipelining: ping_pong}}\n"),
                    Contains("cluster.offload.impl") && Contains("pipelining"));
}
