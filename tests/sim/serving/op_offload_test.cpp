// Attention offload (pool key offload): on an idle platform a step is G + A + X without pipelining
// and, pipelined, never below any one resource's busy time (GPU, offload device, link) nor above
// the plain order; the link carries the formula's bytes; placing an op on a device that cannot run
// it, or without its dtype, is a key-path error.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>

#include "catalog_entries.hpp"
#include "hw/cost_model.hpp"
#include "sim/scenario/offload_config.hpp"
#include "sim/serving/step_pricer.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

std::shared_ptr<serving::OffloadPlan> make_plan(const std::string& device, int count, serving::OffloadPipelining p) {
  auto plan = std::make_shared<serving::OffloadPlan>();
  plan->policy = "test";
  plan->device = std::make_shared<const hw::Device>(test::catalog_device(device));
  plan->count = count;
  plan->classes[static_cast<std::size_t>(OpClass::attention_decode)] = true;
  plan->link = {"pcie", 32e9, 3e-6};
  plan->pipelining = p;
  return plan;
}

models::BatchShape decode_batch(int seqs, int context) {
  models::BatchShape b;
  for (int i = 0; i < seqs; ++i) b.add_decode(context + 37 * i);
  return b;
}

/// The GPU ops of `b` (everything but decode attention) and the decode attention op, on `gpu`.
struct Split {
  double gpu = 0;
  Op attention;
};
Split split_step(const models::ModelSpec& m, const ParallelPlan& plan, const hw::Device& gpu, const hw::ServingStack& stack,
                 const models::BatchShape& b) {
  serving::StepPricer plain(m, plan, gpu, {}, stack);
  const serving::StepExplanation x = plain.explain(b);
  Split s;
  for (const auto& c : x.ops) {
    if (c.op.cls == OpClass::attention_decode) s.attention = c.op;
    else s.gpu += c.time;
  }
  return s;
}

}  // namespace

TEST_CASE("offload: without pipelining a step is GPU ops + offloaded attention + link transfers", "[serving][offload]") {
  const auto model = test::catalog_model("llama-3.1-8b");
  const hw::Device gpu = test::catalog_device("h100-sxm5-80gb");
  const hw::ServingStack stack;  // no host work: the step is the device time
  for (int tp : {1, 2}) {
    for (int count : {1, 4}) {
      INFO(fmt::format("tp {} count {}", tp, count));
      ParallelPlan plan;
      plan.tp = tp;
      const auto offload = make_plan("xeon-8480plus", count, serving::OffloadPipelining::none);
      serving::StepPricer pricer(model, plan, gpu, {}, stack, offload);
      const models::BatchShape b = decode_batch(48, 1500);
      const double step = pricer.price(b);

      const Split s = split_step(model, plan, gpu, stack, b);
      // The instance's attention for this rank's heads, spread over `count` CPUs (tp / count of it each).
      Op a = s.attention;
      const double scale = static_cast<double>(tp) / count;
      a.flops *= scale, a.weights.bytes *= scale, a.activations.bytes *= scale, a.kv.bytes *= scale;
      const double attention = hw::CostModel(*offload->device).time(a);
      const double L = static_cast<double>(model.num_hidden_layers);
      const serving::OffloadTraffic t = serving::offload_traffic(*offload, model, tp, b);
      const double link = (t.to_offload + t.from_offload) / offload->link.bandwidth + 2 * L * offload->link.latency;
      CHECK(step == Approx(s.gpu + attention + link).epsilon(1e-12));
      CHECK(pricer.last_offload() == Approx(attention).epsilon(1e-12));
      CHECK(pricer.last_offload_bytes() == Approx(t.to_offload + t.from_offload));
      // The CPU reads the KV at DDR bandwidth: attention there is slower than on the H100.
      CHECK(attention > hw::CostModel(gpu).time(s.attention));
    }
  }
}

TEST_CASE("offload: the link carries queries and new K/V out, outputs and prefill context back", "[serving][offload]") {
  const auto model = test::catalog_model("llama-3.1-8b");  // 32 heads x 128, 8 KV heads, 32 layers, bf16
  models::BatchShape b = decode_batch(10, 800);
  b.add_prefill(300, 200, true);
  auto plan = make_plan("xeon-8480plus", 1, serving::OffloadPipelining::none);  // decode attention offloaded
  const serving::OffloadTraffic t = serving::offload_traffic(*plan, model, 2, b);
  const double head = 16 * 128 * 2.0, kv_token = model.kv_bytes_per_token(2);
  CHECK(kv_token == Approx(32 * 2 * 4 * 128 * 2.0));  // K and V of 4 KV heads per rank, 32 layers
  CHECK(t.to_offload == Approx(10 * head * 32 + (10 + 300) * kv_token));
  CHECK(t.from_offload == Approx(10 * head * 32 + 200 * kv_token));

  // Prefill attention offloaded too: its 300 queries go out and come back, its context stays there.
  auto both = std::make_shared<serving::OffloadPlan>(*plan);
  both->classes[static_cast<std::size_t>(OpClass::attention_prefill)] = true;
  const serving::OffloadTraffic tb = serving::offload_traffic(*both, model, 2, b);
  CHECK(tb.to_offload == Approx((10 + 300) * head * 32 + (10 + 300) * kv_token));
  CHECK(tb.from_offload == Approx((10 + 300) * head * 32));

  // Nothing offloaded (FlexGen: KV stored there, attention on the GPU): every step reads back the
  // KV that decode attends to (its context but the new token) and prefill's cached context.
  auto kv_only = std::make_shared<serving::OffloadPlan>(*plan);
  kv_only->classes = {};
  const serving::OffloadTraffic tk = serving::offload_traffic(*kv_only, model, 2, b);
  CHECK(tk.to_offload == Approx((10 + 300) * kv_token));
  CHECK(tk.from_offload == Approx((b.decode_context_tokens - 10 + 200) * kv_token));
}

TEST_CASE("offload: pipelined steps are bounded below by every resource and above by the plain order", "[serving][offload]") {
  const auto model = test::catalog_model("llama-3.1-8b");
  const hw::Device gpu = test::catalog_device("h100-sxm5-80gb");
  const hw::ServingStack stack;
  ParallelPlan plan;
  const auto pipelined = make_plan("xeon-8480plus", 1, serving::OffloadPipelining::ping_pong);
  const auto plain_plan = make_plan("xeon-8480plus", 1, serving::OffloadPipelining::none);
  serving::StepPricer ping(model, plan, gpu, {}, stack, pipelined);
  serving::StepPricer plain(model, plan, gpu, {}, stack, plain_plan);
  bool faster_once = false;
  for (int seqs : {1, 2, 8, 64, 256}) {
    for (int context : {128, 2000, 16000}) {
      INFO(fmt::format("{} sequences, context {}", seqs, context));
      const models::BatchShape b = decode_batch(seqs, context);
      const double step = ping.price(b);
      const double serial = plain.price(b);
      const Split s = split_step(model, plan, gpu, stack, b);
      const serving::OffloadTraffic t = serving::offload_traffic(*pipelined, model, 1, b);
      CHECK(step <= serial);
      CHECK(step >= s.gpu * (1 - 1e-12));
      CHECK(step >= ping.last_offload() * (1 - 1e-12));
      CHECK(step >= std::max(t.to_offload, t.from_offload) / pipelined->link.bandwidth);
      if (seqs == 1) CHECK(step == serial);  // one sequence cannot be split into two sub-batches
      faster_once = faster_once || step < serial * 0.9;
    }
  }
  CHECK(faster_once);  // overlap pays somewhere in the grid
}

TEST_CASE("offload: in-storage attention and streamed KV on an idle platform", "[serving][offload][csd]") {
  const auto model = test::catalog_model("llama-2-13b");  // MHA: 40 layers x 40 KV heads x 128, fp16 here
  const hw::Device gpu = test::catalog_device("rtx-a6000-48gb");
  const hw::ServingStack stack;
  ParallelPlan plan;
  const models::BatchShape b = decode_batch(32, 3000);
  const Split s = split_step(model, plan, gpu, stack, b);
  const double kv_token = model.kv_bytes_per_token(1);
  CHECK(kv_token == Approx(40 * 2 * 40 * 128 * 2.0));  // 0.78 MiB, InstInfer's "0.78 MB per token"
  const double L = 40;

  // InstInfer: the drive's engine reads the batch's KV at 68% of its 11.2 GB/s flash bandwidth.
  auto csd = make_plan("instinfer-csd", 1, serving::OffloadPipelining::none);
  csd->link = csd->device->host;
  serving::StepPricer in_storage(model, plan, gpu, {}, stack, csd);
  const double step = in_storage.price(b);
  const double flash = s.attention.repeat * s.attention.kv.bytes / (11.2e9 * 0.68);  // all layers
  CHECK(in_storage.last_offload() >= flash);
  CHECK(in_storage.last_offload() < flash * 1.01);  // memory-bound: 650 GFLOPS is far above ~1 FLOP per byte
  const serving::OffloadTraffic t = serving::offload_traffic(*csd, model, 1, b);
  CHECK(step == Approx(s.gpu + in_storage.last_offload() + (t.to_offload + t.from_offload) / 7e9 + 2 * L * 10e-6).epsilon(1e-12));

  // FlexGen: nothing runs on the drive; every step reads the KV back over its 7 GB/s link, and the GPU's
  // attention runs as usual. Without pipelining: G + the link; pipelined, never below the link alone.
  auto ssd = make_plan("samsung-980pro-2tb", 1, serving::OffloadPipelining::none);
  ssd->classes = {};
  ssd->link = ssd->device->host;
  serving::StepPricer streamed(model, plan, gpu, {}, stack, ssd);
  const double back = (b.decode_context_tokens - 32) * kv_token;
  const serving::OffloadTraffic ts = serving::offload_traffic(*ssd, model, 1, b);
  CHECK(ts.from_offload == Approx(back));
  const double gpu_attention = hw::CostModel(gpu).time(s.attention);
  CHECK(streamed.price(b) == Approx(s.gpu + gpu_attention + (ts.to_offload + back) / 7e9 + 2 * L * 50e-6).epsilon(1e-12));
  CHECK(streamed.last_offload() == 0);
  auto ssd_pp = std::make_shared<serving::OffloadPlan>(*ssd);
  ssd_pp->pipelining = serving::OffloadPipelining::ping_pong;
  serving::StepPricer overlapped(model, plan, gpu, {}, stack, ssd_pp);
  const double pp = overlapped.price(b);
  CHECK(pp >= back / 7e9);
  CHECK(pp < streamed.price(b));

  // Sparse attention reads (and the link carries) that fraction of the KV.
  auto sparse = std::make_shared<serving::OffloadPlan>(*csd);
  sparse->kv_read_fraction = 0.5;
  sparse->attention_compute_fraction = 0.125;
  serving::StepPricer sparse_pricer(model, plan, gpu, {}, stack, sparse);
  (void)sparse_pricer.price(b);
  CHECK(sparse_pricer.last_offload() == Approx(in_storage.last_offload() / 2).epsilon(0.01));
  auto ssd_sparse = std::make_shared<serving::OffloadPlan>(*ssd);
  ssd_sparse->kv_read_fraction = 0.25;
  CHECK(serving::offload_traffic(*ssd_sparse, model, 1, b).from_offload == Approx(back / 4));
}

TEST_CASE("offload: NEO's GPU-resident KV keeps its share of attention and traffic on the GPU", "[serving][offload]") {
  const auto model = test::catalog_model("llama-3.1-8b");
  const hw::Device gpu = test::catalog_device("a10g-24gb");
  const hw::ServingStack stack;
  ParallelPlan plan;
  const models::BatchShape b = decode_batch(40, 1500);
  serving::StepPricer alone(model, plan, gpu, {}, stack);
  // Room for every token on the GPU: the step is the GPU's own, to the bit, and nothing crosses.
  auto all = make_plan("xeon-8480plus", 1, serving::OffloadPipelining::ping_pong);
  all->gpu_kv = true;
  all->gpu_kv_tokens = 1e12;
  serving::StepPricer resident(model, plan, gpu, {}, stack, all);
  CHECK(resident.price(b) == Approx(alone.price(b)).epsilon(1e-12));
  CHECK(resident.last_offload() == 0);
  CHECK(resident.last_offload_bytes() == 0);
  // Room for half of the batch's context: half the attention on each side, half the traffic.
  auto half = make_plan("xeon-8480plus", 1, serving::OffloadPipelining::none);
  half->gpu_kv = true;
  half->gpu_kv_tokens = b.decode_context_tokens / 2;
  auto none = make_plan("xeon-8480plus", 1, serving::OffloadPipelining::none);
  serving::StepPricer split(model, plan, gpu, {}, stack, half);
  serving::StepPricer cpu_only(model, plan, gpu, {}, stack, none);
  CHECK(half->gpu_attention_share(b) == Approx(0.5));
  (void)split.price(b);
  (void)cpu_only.price(b);
  CHECK(split.last_offload() == Approx(cpu_only.last_offload() / 2).epsilon(0.02));
  CHECK(split.last_offload_bytes() == Approx(cpu_only.last_offload_bytes() / 2));
  CHECK(split.last_gpu() < cpu_only.last_gpu());  // the A10G reads KV faster than the CPU
}

TEST_CASE("offload: sub-batches round counts up and split sums", "[serving][offload]") {
  models::BatchShape b = decode_batch(5, 100);
  b.add_prefill(301, 0, true);
  const models::BatchShape h = b.share(2);
  CHECK(h.decode_seqs == 3);
  CHECK(h.prefill_tokens == 151);
  CHECK(h.decode_context_tokens == Approx(b.decode_context_tokens / 2));
  CHECK(2 * h.tokens() >= b.tokens());
}

TEST_CASE("offload: key errors name the pool key, the device and what it cannot do", "[serving][offload]") {
  const auto model = test::catalog_model("llama-3.1-8b");
  const hw::Device gpu = test::catalog_device("h100-sxm5-80gb");
  auto parse = [&](const std::string& yaml) {
    auto d = config::Document::load_string(yaml, "s.yaml");
    return sim::parse_offload(d.root().child("cluster"), model, gpu, 1);
  };
  CHECK(parse("cluster: {device: h100-sxm5-80gb}\n") == nullptr);
  // HBM-PIM runs decode attention (a GEMV), not prefill attention.
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: pim, ops: [attention_prefill]}}\n"),
                    Contains("cluster.offload.ops") && Contains("samsung-hbm-pim") && Contains("cannot run attention_prefill"));
  // ... and only in FP16: a BF16 model's attention cannot run there.
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: pim}}\n"), Contains("bf16") && Contains("samsung-hbm-pim"));
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: neo, ops: [gemm]}}\n"), Contains("'gemm'") && Contains("attention_decode"));
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: lamna}}\n"), Contains("did you mean 'lamina'"));
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: neo, pipelining: sometimes}}\n"), Contains("cluster.offload.pipelining"));
  const auto neo = parse("cluster: {offload: {impl: neo}}\n");
  REQUIRE(neo);
  CHECK(neo->device->name == "xeon-8480plus");
  CHECK(neo->link.bandwidth == gpu.host.bandwidth);  // the GPU's PCIe link
  CHECK(neo->pipelining == serving::OffloadPipelining::ping_pong);
  CHECK(neo->kv_memory == neo->device->usable_memory);
}
