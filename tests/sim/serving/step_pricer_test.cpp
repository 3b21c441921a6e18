// The step pricer caches what depends only on token counts and must equal pricing every op of the
// step, to the bit, on every kind of device and placement.
#include <catch2/catch.hpp>

#include <random>

#include "catalog_entries.hpp"
#include "hw/cost_model.hpp"
#include "models/step_ops.hpp"
#include "sim/serving/step_pricer.hpp"

using namespace hetsim;

namespace {
/// Stacks that exercise every branch: no host work; graphs for all small steps with host work
/// hidden; eager decode with a dispatch cost larger than small kernels.
std::vector<hw::ServingStack> stacks() {
  hw::ServingStack none;
  hw::ServingStack graphs;
  graphs.step_overhead = 1e-3, graphs.per_sequence = 1e-5, graphs.launch = 5e-6, graphs.cuda_graphs = true;
  graphs.graph_decode_only = false, graphs.graph_max_tokens = 512, graphs.overlap_host = true;
  hw::ServingStack eager;
  eager.step_overhead = 1.2e-3, eager.per_sequence = 1e-4, eager.per_prefill_token = 1e-7, eager.launch = 4.5e-5;
  return {none, graphs, eager};
}
}  // namespace

TEST_CASE("step pricer: cached pricing equals pricing every op of the step plus the stack's host work, bit for bit",
          "[serving][pricer]") {
  const auto model = test::catalog_model("llama-3-8b");
  for (const hw::ServingStack& stack : stacks())
  for (const char* name : {"h100-sxm5-80gb", "tpu-v4", "snapdragon-8-gen3"}) {
    INFO(name);
    const hw::Device device = test::catalog_device(name);
    for (bool flash : {false, true}) {
      if (flash && !device.storage()) continue;
      const hw::OperandPlacement placement = flash ? hw::OperandPlacement::weights_in(device, hw::TierKind::flash)
                                                   : hw::OperandPlacement{};
      for (int tp : {1, 2}) {
        ParallelPlan plan;
        plan.tp = tp;
        serving::StepPricer pricer(model, plan, device, placement, stack);
        const hw::CostModel cost(device);
        std::mt19937_64 rng(7);
        std::uniform_int_distribution<int> ctx(1, 6000), n(0, 40), chunk(1, 2000);
        std::vector<Op> ops;
        for (int i = 0; i < 300; ++i) {
          models::BatchShape b;
          const int decodes = n(rng) % 5 == 0 ? 0 : n(rng);
          for (int d = 0; d < decodes; ++d) b.add_decode(ctx(rng));
          if (n(rng) % 3 == 0) b.add_prefill(chunk(rng), ctx(rng) / 2, n(rng) % 2 == 0);
          if (b.empty()) b.add_decode(ctx(rng));
          models::step_ops(model, b, plan, ops);
          placement.apply(device, ops);
          const double launch = stack.graphed(b.tokens(), b.prefill_tokens) ? 0.0 : stack.launch;
          double gpu = 0;
          for (const Op& op : ops) gpu += cost.time(op, launch);
          const double host = stack.host_time(b.decode_seqs + b.prefill_chunks, b.prefill_tokens);
          CHECK(pricer.price(b) == stack.step_time(host, gpu));
          CHECK(pricer.last_gpu() == gpu);
        }
        CHECK(pricer.cached_shapes() < 300);  // shapes repeat: the cache is used
      }
    }
  }
}

TEST_CASE("serving stack: attention curves measured on one device price that device only, per (sequence, head)",
          "[serving][stack]") {
  auto doc = config::Document::load_string(
      "name: t\nattention:\n  kernels: K\n  devices:\n    h100-sxm5-80gb:\n"
      "      prefill: {e_max: 0.5, s_half_per_sequence_head: 1.0e+8}\n      decode: {e_max: 0.5, s_half: 16 MB}\n",
      "stack.yaml");
  const hw::ServingStack stack = hw::parse_serving_stack(doc.root());
  const hw::Device h100 = stack.apply(test::catalog_device("h100-sxm5-80gb"));
  const hw::Device a100 = stack.apply(test::catalog_device("a100-sxm4-80gb"));
  CHECK(h100.eff(OpClass::attention_prefill).half_per_unit);
  CHECK_THAT(h100.eff(OpClass::attention_decode).source, Catch::Contains("measured on this device"));
  CHECK(a100.eff(OpClass::attention_prefill).compute ==
        test::catalog_device("a100-sxm4-80gb").eff(OpClass::attention_prefill).compute);  // untouched elsewhere
  // The half-size counts per (sequence, head): one sequence of 64 heads with F FLOPs pays
  // (F + 64 h) / (peak e), eight sequences with the same total FLOPs pay (F + 512 h) / (peak e).
  const hw::CostModel cost(h100);
  Op op;
  op.name = "attention_prefill";
  op.cls = OpClass::attention_prefill;
  op.flops = 1e12;
  op.units = 64;
  const double one = cost.breakdown(op).compute;
  op.units = 512;
  const double eight = cost.breakdown(op).compute;
  const double peak = h100.peak(DType::bf16);
  CHECK(one == Approx((1e12 + 64 * 1e8) / (peak * 0.5)).epsilon(1e-12));
  CHECK(eight == Approx((1e12 + 512 * 1e8) / (peak * 0.5)).epsilon(1e-12));
  // s_half and s_half_per_sequence_head exclude each other.
  auto both = config::Document::load_string("attention: {prefill: {e_max: 0.5, s_half: 1, s_half_per_sequence_head: 1}}\n", "s.yaml");
  CHECK_THROWS_WITH(hw::parse_serving_stack(both.root()), Catch::Contains("not both"));
}

TEST_CASE("step pricer: an instance spanning nodes prices its collectives over the scale-out level", "[serving][pricer]") {
  const auto model = test::catalog_model("llama-3-70b");
  const hw::Device device = test::catalog_device("h100-sxm5-80gb");
  const hw::ServingStack stack;
  ParallelPlan plan;
  plan.tp = 16;
  models::BatchShape b;
  b.add_prefill(8192, 0, true);  // 128 MiB all-reduces: bandwidth-bound
  serving::StepPricer one_domain(model, plan, device, {}, stack);
  serving::StepPricer spanning(model, plan, device, {}, stack);
  hw::LinkLevel nic;
  nic.bandwidth = 50e9;  // a 400 Gb/s NIC
  nic.latency = 4e-6;
  nic.efficiency = 0.8;
  spanning.span_nodes(8, nic);
  const serving::StepExplanation x = spanning.explain(b);
  for (const auto& c : x.ops)
    if (c.op.cls == OpClass::collective) CHECK(c.op.group_nodes == 2);
  // The all-reduces' bytes cross the NICs, far slower than NVLink.
  CHECK(spanning.price(b) > one_domain.price(b));
}

TEST_CASE("step pricer: two-batch overlap hides expert all-to-alls behind the other micro-batch's compute",
          "[serving][pricer][moe]") {
  const auto model = test::catalog_model("qwen3-30b-a3b");  // 128 experts, top-8, 48 MoE layers
  const hw::Device device = test::catalog_device("h100-sxm5-80gb");
  const hw::ServingStack stack;  // device time only
  ParallelPlan plan;
  plan.tp = 1;
  plan.dp = 16;
  plan.ep = 16;
  hw::LinkLevel nic;
  nic.bandwidth = 50e9;
  nic.latency = 4e-6;
  nic.efficiency = 0.8;
  serving::StepPricer plain(model, plan, device, {}, stack);
  serving::StepPricer tbo(model, plan, device, {}, stack);
  plain.span_nodes(8, nic);
  tbo.span_nodes(8, nic);
  tbo.overlap_two_batches(true);
  bool gains = false;
  for (int seqs : {1, 2, 32, 256, 1024}) {
    INFO(seqs << " sequences");
    models::BatchShape b;
    for (int i = 0; i < seqs; ++i) b.add_decode(1000 + i);
    if (seqs >= 32) b.add_prefill(4096, 0, true);
    const double whole = plain.price(b), overlapped = tbo.price(b);
    // The faster order is kept; two halves cost at least one whole batch's half.
    CHECK(overlapped <= whole);
    CHECK(overlapped >= whole / 2);
    // The all-to-alls' time: one micro-batch cannot finish before its own communication.
    const serving::StepExplanation x = plain.explain(b.share(2));
    double comm = 0;
    for (const auto& c : x.ops)
      if (c.op.cls == OpClass::collective && c.op.collective == Collective::all_to_all) comm += c.time;
    CHECK(comm > 0);
    CHECK(overlapped >= 2 * comm * (1 - 1e-12));
    if (seqs == 1) CHECK(overlapped == whole);  // one sequence cannot be split
    gains = gains || overlapped < 0.95 * whole;
  }
  CHECK(gains);
  // A dense model has no all-to-alls to overlap. (The pricer keeps a reference to its model.)
  const auto llama = test::catalog_model("llama-3.1-8b");
  serving::StepPricer dense(llama, ParallelPlan{}, device, {}, stack);
  CHECK_THROWS(dense.overlap_two_batches(true));
}

TEST_CASE("step pricer: DeepEP dispatch sends a token once per remote node of its experts", "[serving][pricer][moe]") {
  // DeepSeek-V3 at DP32 + EP32 over four 8-GPU nodes: 8 groups of 32 experts, a token routed to at
  // most 4 groups, two groups per node. Only the all-to-alls change; with DeepEP each carries the
  // token's row to ~2.5 remote nodes over the NICs instead of 8 x 3/4 copies.
  const auto model = test::catalog_model("deepseek-v3");
  const hw::Device device = test::catalog_device("h100-sxm5-80gb");
  const hw::ServingStack stack;
  ParallelPlan plan;
  plan.dp = plan.ep = 32;
  hw::LinkLevel nic{50e9, 4e-6, 0.8, 0};
  serving::StepPricer plain(model, plan, device, {}, stack);
  serving::StepPricer deepep(model, plan, device, {}, stack);
  plain.span_nodes(8, nic);
  deepep.span_nodes(8, nic);
  deepep.dispatch_like_deepep(true);
  models::BatchShape b;
  b.add_prefill(65536, 0, true);  // large all-to-alls: the latency terms are under 1%
  const auto a2a = [&](serving::StepPricer& p) {
    double t = 0, other = 0;
    for (const auto& c : p.explain(b).ops)
      (c.op.collective == Collective::all_to_all ? t : other) += c.time;
    return std::pair{t, other};
  };
  const auto [t_plain, rest_plain] = a2a(plain);
  const auto [t_deepep, rest_deepep] = a2a(deepep);
  CHECK(rest_deepep == Approx(rest_plain).epsilon(1e-12));
  // Both NIC-bound here: the bytes across fall from 8 x 24/32 = 6 row copies to the remote nodes reached.
  const double remote = hw::routed_remote_nodes(4, {8, 8, 4});
  CHECK(remote == Approx(4 * (1 - 15.0 / 70) * 3 / 4));
  CHECK(t_deepep < t_plain);
  CHECK(t_deepep / t_plain == Approx(remote / 6).epsilon(0.01));
  CHECK(deepep.price(b) < plain.price(b));
}
