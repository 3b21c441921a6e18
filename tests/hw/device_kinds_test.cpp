// Cost model on device kinds beyond GPUs. The NPU and PIM devices here are illustrative test
// devices (round numbers), not catalog entries.
#include <catch2/catch.hpp>

#include <cmath>

#include "catalog_entries.hpp"
#include "hw/cost_model.hpp"
#include "hw/placement.hpp"
#include "models/step_ops.hpp"
#include "sim/core/catalog.hpp"
#include "sim/serving/step_pricer.hpp"
#include "support.hpp"

using namespace hetsim;

namespace {
hw::Device inline_device(const std::string& yaml) {
  auto doc = config::Document::load_string(yaml, "device.yaml");
  auto d = hw::parse_device(doc.root());
  doc.check_unknown_keys();
  return d;
}
const char* kSlowNpu = R"(
name: test-npu
kind: npu
systolic: {rows: 32, cols: 32, arrays: 1, clock: 1 GHz, dtype: bf16}   # 2 TFLOPS
sram: {capacity: 64 MiB, bandwidth: 20 TB/s}
memory: {capacity: 32 GB, bandwidth: 1 TB/s}
links: {scale_up: {bandwidth: 100 GB/s}, host: {bandwidth: 32 GB/s}}
efficiency: {}
)";
const char* kPim = R"(
name: test-pim
kind: pim
compute: {fp16: 1.2 TFLOPS, bf16: 1.2 TFLOPS}
memory: {capacity: 16 GB, bandwidth: 1 TB/s}
pim: {internal_bandwidth_multiple: 4, runs: [attention_decode, elementwise]}
links: {host: {bandwidth: 32 GB/s}}
efficiency: {}
)";
Op decode_gemm(double batch) {  // one 4096 x 4096 projection for `batch` decode tokens
  Op op;
  op.name = "proj";
  op.cls = OpClass::gemm;
  op.flops = 2 * batch * 4096 * 4096;
  op.weights.bytes = 2.0 * 4096 * 4096;
  op.activations.bytes = 2 * (batch * 4096 * 2);
  return op;
}
}  // namespace

TEST_CASE("device kinds: the same decode GEMM is memory-bound on a GPU and compute-bound on a slow NPU", "[hw][kinds]") {
  const hw::Device h100 = test::catalog_device("h100-sxm5-80gb");
  const hw::Device npu = inline_device(kSlowNpu);
  CHECK(npu.peak(DType::bf16) == Approx(2.048e12));  // 2 x 32 x 32 x 1 GHz
  const Op op = decode_gemm(64);
  CHECK(hw::CostModel(h100).limiter(op) == hw::Limiter::memory);
  CHECK(hw::CostModel(npu).limiter(op) == hw::Limiter::compute);
  CHECK(hw::CostModel(npu).time(op) == Approx(op.flops / 2.048e12));
  CHECK(hw::CostModel(npu).time(op) >= hw::CostModel(npu).roofline_bound(op));
}

TEST_CASE("device kinds: NPU activations stay in SRAM until they outgrow it", "[hw][kinds]") {
  const hw::Device device = inline_device(kSlowNpu);
  const hw::CostModel npu(device);
  const hw::OperandPlacement placement;  // the default: activations on chip while they fit
  Op small = decode_gemm(1);  // 16 KiB of activations: on chip; only the weights stream from memory
  small.flops = 0;            // isolate the memory terms
  CHECK(npu.breakdown(small).sram == 0);  // unplaced: everything in the engine's home tier
  placement.apply(device, std::span(&small, 1));
  auto b = npu.breakdown(small);
  CHECK(b.memory == Approx(small.weights.bytes / 1e12));
  CHECK(b.sram == Approx(small.activations.bytes / 20e12));
  Op big = small;
  big.activations.bytes = 100.0 * (1 << 20);  // 100 MiB > 64 MiB of SRAM: activations spill off chip
  big.activations.tier = kHomeTier;
  placement.apply(device, std::span(&big, 1));
  b = npu.breakdown(big);
  CHECK(b.sram == 0);
  CHECK(b.memory == Approx((big.weights.bytes + big.activations.bytes) / 1e12));
  CHECK(b.limiter == hw::Limiter::memory);
}

TEST_CASE("device kinds: PIM runs its op classes at the internal bandwidth and refuses others", "[hw][kinds]") {
  const hw::Device pim = inline_device(kPim);
  CHECK(pim.can_run(OpClass::attention_decode));
  CHECK_FALSE(pim.can_run(OpClass::gemm));
  Op attn;
  attn.name = "attention_decode";
  attn.cls = OpClass::attention_decode;
  attn.flops = 4.0 * 128 * 32 * 8192;
  attn.kv.bytes = 2.0 * 8192 * 8 * 128 * 2;
  const hw::CostModel cost(pim);
  CHECK(cost.time(attn) == Approx(std::max(attn.flops / 1.2e12, attn.kv.bytes / 4e12)));
  REQUIRE_THROWS_WITH(cost.time(decode_gemm(1)), Catch::Contains("cannot run gemm ops"));
}

TEST_CASE("device kinds: a PIM device cannot host a serving replica", "[hw][kinds][e2e]") {
  for (const char* pim : {"samsung-hbm-pim", "skhynix-gddr6-aim"}) {
    const auto r = test::run_hetsim(
        fmt::format("validate '{}/scenarios/quickstart.yaml' --set cluster.device={}", test::source_dir(), pim));
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("cluster.device") && Catch::Contains("cannot host a serving replica"));
  }
}

TEST_CASE("device kinds: weights kept in flash stream in every step at the storage bandwidth", "[hw][kinds]") {
  const hw::Device soc = test::catalog_device("snapdragon-8-gen3");
  const auto model = test::catalog_model("llama-2-7b");
  models::BatchShape decode;
  decode.add_decode(300);
  std::vector<Op> ops;
  models::step_ops(model, decode, 1, ops);
  double weight_bytes = 0;
  for (const Op& op : ops) weight_bytes += op.weights.bytes * op.repeat;
  std::vector<Op> in_flash = ops;
  hw::OperandPlacement::weights_in(soc, hw::TierKind::flash).apply(soc, in_flash);
  const hw::CostModel cost(soc);
  for (const Op& op : in_flash)
    if (op.cls == OpClass::gemm) CHECK(cost.limiter(op) == hw::Limiter::storage);
  const double t_flash = cost.chain_time(in_flash), t_dram = cost.chain_time(ops);
  const double launches = soc.kernel_launch_overhead * [&] {
    double n = 0;
    for (const Op& op : ops) n += op.repeat * op.kernels;
    return n;
  }();
  // Every weight byte crosses UFS 4.0 at 4.2 GB/s; the rest overlaps with it.
  CHECK(t_flash == Approx(weight_bytes / 4.2e9 + launches).epsilon(0.01));
  CHECK(t_dram == Approx(weight_bytes / 76.8e9 + launches).epsilon(0.05));
  CHECK(t_flash / t_dram > 10);
}

TEST_CASE("device kinds: an SoC's engines share its memory: decode costs the same, prefill follows each peak",
          "[hw][kinds][soc]") {
  auto on_engine = [](const std::string& engine) {
    auto doc = config::Document::load_string(
        "device: {preset: snapdragon-8-gen3, engine: " + engine + "}\n", "inline.yaml");
    auto layered = catalog::with_preset(doc.root(), "device", "hw/catalog");
    return hw::parse_device(layered.node);
  };
  const hw::Device npu = on_engine("npu"), cpu = on_engine("cpu"), gpu = on_engine("gpu");
  REQUIRE(npu.engines.size() == 3);  // Hexagon NPU, Adreno GPU, Kryo CPU
  CHECK(gpu.peak(DType::fp16) == Approx(2.8e12));
  CHECK(gpu.compute().memory_bandwidth == Approx(43.3e9));  // one engine streams less than the memory gives
  CHECK(cpu.compute().name == "cpu");
  CHECK(npu.memory().read_bandwidth == cpu.memory().read_bandwidth);
  CHECK(cpu.peak(DType::fp16) == Approx(775.7e9));
  const auto model = test::catalog_model("llama-2-7b");  // fp16
  std::vector<Op> ops;
  models::BatchShape decode;
  decode.add_decode(300);
  models::step_ops(model, decode, 1, ops);
  // One decode token: every op is bound by LPDDR5X traffic on both engines, so the times match.
  CHECK(hw::CostModel(cpu).chain_time(ops) == Approx(hw::CostModel(npu).chain_time(ops)));
  models::BatchShape prefill;
  prefill.add_prefill(512, 0, true);
  models::step_ops(model, prefill, 1, ops);
  double gemm_cpu = 0, gemm_npu = 0;
  for (const Op& op : ops)
    if (op.cls == OpClass::gemm) {  // (the LM head, for the last position only, stays memory-bound)
      gemm_cpu += hw::CostModel(cpu).roofline_bound(op);
      gemm_npu += hw::CostModel(npu).roofline_bound(op);
    }
  // The prompt's GEMMs are compute-bound on the CPU, so it is many times slower than the NPU, but
  // never by more than their peak ratio (the NPU side may be memory-bound).
  CHECK(gemm_cpu / gemm_npu > 5);
  CHECK(gemm_cpu / gemm_npu <= npu.peak(DType::fp16) / cpu.peak(DType::fp16) * 1.0001);

  auto bad = config::Document::load_string("device: {preset: snapdragon-8-gen3, engine: dsp}\n", "bad.yaml");
  auto layered = catalog::with_preset(bad.root(), "device", "hw/catalog");
  REQUIRE_THROWS_WITH(hw::parse_device(layered.node), Catch::Contains("bad.yaml:1: device.engine") && Catch::Contains("dsp"));
}

TEST_CASE("device kinds: an SoC may decode on another engine: decode-only steps there, prefill on its engine",
          "[hw][kinds][soc]") {
  auto device = [](const std::string& engines) {
    auto doc = config::Document::load_string("device: {preset: snapdragon-8-gen3, " + engines + "}\n", "inline.yaml");
    auto layered = catalog::with_preset(doc.root(), "device", "hw/catalog");
    return hw::parse_device(layered.node);
  };
  const hw::Device split = device("engine: npu, decode_engine: cpu"), npu = device("engine: npu"), cpu = device("engine: cpu");
  CHECK(split.compute().name == "npu");
  CHECK(split.decoding().compute().name == "cpu");
  CHECK(npu.decoding().compute().name == "npu");  // by default decode stays on the model's engine
  const auto model = test::catalog_model("llama-2-7b");
  const ParallelPlan plan;
  const hw::ServingStack stack;
  auto step = [&](const hw::Device& d, const models::BatchShape& b) {
    serving::StepPricer pricer(model, plan, d, {}, stack);
    return pricer.price(b);
  };
  models::BatchShape decode, prefill, mixed;
  for (int i = 0; i < 4; ++i) decode.add_decode(300 + 10 * i);
  prefill.add_prefill(512, 0, true);
  mixed = decode;
  mixed.add_prefill(64, 0, true);
  CHECK(step(split, decode) == step(cpu, decode));
  CHECK(step(split, prefill) == step(npu, prefill));
  CHECK(step(split, mixed) == step(npu, mixed));  // a step with prompt tokens runs on the model's engine
  CHECK(step(cpu, prefill) > 5 * step(npu, prefill));
  auto bad = config::Document::load_string("device: {preset: snapdragon-8-gen3, decode_engine: dsp}\n", "bad.yaml");
  auto layered = catalog::with_preset(bad.root(), "device", "hw/catalog");
  REQUIRE_THROWS_WITH(hw::parse_device(layered.node), Catch::Contains("device.decode_engine") && Catch::Contains("dsp"));
}

TEST_CASE("flash streaming: a token reads its active neurons the window did not use, in larger reads when bundled",
          "[hw][flash]") {
  hw::FlashStreaming f;
  f.active = 0.1;
  CHECK(f.load_fraction(1) == Approx(0.1));
  f.window = 5;
  CHECK(f.load_fraction(1) == Approx(0.1 * std::pow(0.9, 5)));
  // A long prefill needs nearly every neuron; the window still holds its share.
  CHECK(f.load_fraction(2000) == Approx(std::pow(0.9, 5)).epsilon(1e-9));
  // Read size: 8 KiB rows against a 33 KiB half-bandwidth size; bundling three rows is faster, and
  // reading (almost) everything is sequential.
  f.request_half = 33 * 1024;
  f.chunk = 8 * 1024;
  const double single = f.read_efficiency(0.06);
  f.chunk = 24 * 1024;
  const double bundled = f.read_efficiency(0.06);
  CHECK(single == Approx(8192 / 0.94 / (8192 / 0.94 + 33 * 1024)));
  CHECK(bundled > 2 * single);
  CHECK(f.read_efficiency(1.0) == 1.0);
  CHECK(f.read_efficiency(0.99) > 0.85);
}

TEST_CASE("flash streaming: a hot-neuron cache in DRAM leaves flash the cold neurons' share of activations",
          "[hw][flash]") {
  hw::FlashStreaming f;
  f.active = 0.1;
  const double uncached = f.load_fraction(1);
  // PowerInfer-2's neuron cache: 20% of the neurons take 80% of the activations. A token activates
  // 10% of all neurons, 2% of them cold: of the 80% cold neurons each is active with p = 0.025.
  f.hot = 0.2;
  f.hot_share = 0.8;
  CHECK(f.cold_active() == Approx(0.1 * 0.2 / 0.8));
  CHECK(f.load_fraction(1) == Approx(0.8 * 0.025));
  CHECK(f.load_fraction(1) == Approx(uncached * (1 - 0.8)));  // one token reads only its cold activations
  f.window = 5;
  CHECK(f.load_fraction(1) == Approx(0.8 * 0.025 * std::pow(0.975, 5)));
  // A long prefill needs every cold neuron, and never a hot one.
  f.window = 0;
  CHECK(f.load_fraction(5000) == Approx(0.8).epsilon(1e-9));
  // A cache whose neurons take only their proportional share saves exactly its size.
  f.hot_share = 0.2;
  CHECK(f.cold_active() == Approx(0.1));
  CHECK(f.load_fraction(1) == Approx(0.8 * 0.1));
}

TEST_CASE("flash streaming: only the MLP weights stream, sparsely, and the rest is read from DRAM", "[hw][flash]") {
  const auto soc = test::catalog_device("snapdragon-8-gen3");
  const auto model = test::catalog_model("llama-2-7b");
  models::BatchShape b;
  b.add_decode(300);
  std::vector<Op> ops;
  models::step_ops(model, b, 1, ops);
  std::vector<Op> streamed = ops, all_flash = ops;
  hw::OperandPlacement p = hw::OperandPlacement::weights_in(soc, hw::TierKind::flash);
  p.apply(soc, all_flash, 1);
  p.flash = hw::FlashStreaming{.active = 0.1, .window = 0, .chunk = 3 * 4096 * 2.0, .request_half = 33 * 1024};
  p.apply(soc, streamed, 1);
  const hw::CostModel cost(soc);
  double t_all = 0, t_streamed = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    t_all += cost.time(all_flash[i]);
    t_streamed += cost.time(streamed[i]);
    const bool mlp = ops[i].name == "gate_up_proj" || ops[i].name == "down_proj";
    if (ops[i].weights.bytes == 0) continue;
    INFO(ops[i].name);
    if (mlp) {
      CHECK(streamed[i].weights.tier == all_flash[i].weights.tier);
      CHECK(streamed[i].weights.bytes == Approx(ops[i].weights.bytes * 0.1 / p.flash->read_efficiency(0.1)));
      CHECK(streamed[i].flops == Approx(ops[i].flops * 0.1));
    } else {
      CHECK(streamed[i].weights.tier == kHomeTier);
    }
  }
  CHECK(t_streamed < t_all / 2);
}
