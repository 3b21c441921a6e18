// Two engines of an SoC sharing each op (hw::EngineSplit, HeteroInfer) and the per-engine memory
// ceilings and curves it needs. The inline SoC is an illustrative test device (round numbers).
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "hw/cost_model.hpp"
#include "models/op_factory.hpp"
#include "sim/core/catalog.hpp"
#include "sim/scenario/scenario.hpp"
#include "support.hpp"

using namespace hetsim;

namespace {
/// GPU 2 TFLOPS and NPU 8 TFLOPS, each streaming at most 40 GB/s of a 60 GB/s memory.
hw::Device soc(const std::string& extra, const std::string& npu_extra = "") {
  const std::string yaml = R"(
name: test-soc
kind: soc
engine: gpu
engines:
  gpu: {compute: {fp16: 2 TFLOPS}, memory_bandwidth: 40 GB/s}
  npu: {compute: {fp16: 8 TFLOPS}, memory_bandwidth: 40 GB/s)" + npu_extra + R"(}
memory: {kind: LPDDR5X, capacity: 16 GB, bandwidth: 60 GB/s}
links: {host: {bandwidth: 60 GB/s}}
)" + extra + "\n";
  auto doc = config::Document::load_string(yaml, "soc.yaml");
  auto d = hw::parse_device(doc.root());
  doc.check_unknown_keys();
  return d;
}
EngineIndex index_of(const hw::Device& d, const std::string& name) {
  for (std::size_t i = 0; i < d.engines.size(); ++i)
    if (d.engines[i].name == name) return static_cast<EngineIndex>(i);
  FAIL("no engine " << name);
  return 0;
}
Op gemm_op(double flops, double bytes, const char* name = "o_proj") {
  Op op;
  op.name = name;
  op.cls = OpClass::gemm;
  op.dtype = DType::fp16;
  op.flops = flops;
  op.weights.bytes = bytes;
  return op;
}
}  // namespace

TEST_CASE("engine split: compute-bound, both parts finish together at T_a T_b / (T_a + T_b) plus the sync",
          "[hw][split]") {
  const hw::Device d = soc("split: {with: npu, sync: 1 ms}");
  const hw::CostModel cost(d);
  const Op op = gemm_op(1e12, 1e3);  // 0.5 s on the GPU alone, 0.125 s on the NPU alone
  const double gpu = 0.5, npu = 0.125;
  const auto b = cost.breakdown(op);
  CHECK(b.split_share == Approx(npu / (gpu + npu)).margin(1e-6));  // the GPU takes 20%
  CHECK(cost.time(op) == Approx(gpu * npu / (gpu + npu) + 1e-3).epsilon(1e-6));
  // Never faster than either part's own roofline, never slower than the better engine alone.
  CHECK(cost.time(op) >= 0.2 * gpu);
  CHECK(cost.time(op) <= npu + 1e-3);
  // A fixed share is honoured: half each, the GPU's half bounds it.
  const hw::Device fixed = soc("split: {with: npu, share: 0.5, sync: 1 ms}");
  const hw::CostModel half(fixed);
  CHECK(half.time(op) == Approx(0.5 * gpu + 1e-3).epsilon(1e-9));
  // A sync dearer than what splitting saves: the op runs whole on the model engine.
  const hw::Device slow_sync = soc("split: {with: npu, sync: 1 s}");
  const hw::CostModel whole(slow_sync);
  CHECK(whole.time(op) == Approx(gpu).epsilon(1e-9));
  CHECK(whole.breakdown(op).split_share == 1.0);
  // Without a split the op runs on the GPU alone.
  const hw::Device plain = soc("");
  CHECK(hw::CostModel(plain).time(op) == Approx(gpu).epsilon(1e-9));
}

TEST_CASE("engine split: memory-bound, the two engines together are bound by the shared memory", "[hw][split]") {
  const hw::Device d = soc("split: {with: npu, sync: 1 ms}"), plain = soc("");
  const hw::CostModel cost(d);
  const Op op = gemm_op(1e6, 6e9);  // 6 GB: 0.15 s at one engine's 40 GB/s ceiling, 0.1 s at the memory's 60
  CHECK(hw::CostModel(plain).time(op) == Approx(0.15).epsilon(1e-6));  // the engine's ceiling, not the memory's
  CHECK(cost.time(op) == Approx(0.1 + 1e-3).epsilon(1e-6));              // not 0.075: the memory is shared
  CHECK(cost.breakdown(op).split_share == Approx(0.5).margin(1e-6));
}

TEST_CASE("engine split: an engine's own curves price its ops before the device's", "[hw][split]") {
  const hw::Device d = soc("efficiency: {gemm: {compute: 0.8}}",
                           ", efficiency: {gemm: {compute: 0.5}, ops: {down_proj: {class: gemm, compute: 0.25}}}");
  const hw::CostModel cost(d);
  Op on_npu = gemm_op(1e12, 1e3), down = gemm_op(1e12, 1e3, "down_proj"), on_gpu = gemm_op(1e12, 1e3);
  on_npu.engine = down.engine = 1;
  CHECK(cost.time(on_gpu) == Approx(1e12 / (2e12 * 0.8)));  // the device's curve
  CHECK(cost.time(on_npu) == Approx(1e12 / (8e12 * 0.5)));  // the NPU's class curve
  CHECK(cost.time(down) == Approx(1e12 / (8e12 * 0.25)));   // the NPU's curve for this op
  CHECK(d.eff(down, d.engines[1]).source == "engine npu curve");
}

TEST_CASE("engine split: bad split keys name the key and the value", "[hw][split]") {
  CHECK_THROWS_WITH(soc("split: {with: gpu}"), Catch::Contains("split.with") && Catch::Contains("other than the model engine"));
  CHECK_THROWS_WITH(soc("split: {with: dsp}"), Catch::Contains("split.with") && Catch::Contains("dsp"));
  CHECK_THROWS_WITH(soc("split: {with: npu, share: 1.5}"), Catch::Contains("split.share") && Catch::Contains("1.5"));
  CHECK_THROWS_WITH(soc("split: {with: npu, ops: [collective]}"), Catch::Contains("split.ops") && Catch::Contains("collective"));
  CHECK_THROWS_WITH(soc("split: {with: npu, sync: -1 us}"), Catch::Contains("split.sync"));
  CHECK_FALSE(soc("split: null").split.has_value());
}

TEST_CASE("engine split: the HeteroInfer scenario's engines price Table 3's kernels as measured", "[hw][split]") {
  auto doc = config::Document::load_file(test::source_dir() + "/scenarios/phone_heteroinfer_llama3_8b.yaml");
  const sim::Scenario sc = sim::load_scenario(doc);
  const hw::Device& d = *sc.replicas.at(0).device;
  REQUIRE(d.split);
  const hw::CostModel cost(d);
  const double wb = sc.model.precision.weight_bytes_per_element();
  CHECK(wb == 0.5 + 4.0 / 128);
  std::ifstream in(test::source_dir() + "/validation/data/heteroinfer_table3.csv");
  REQUIRE(in);
  std::string line;
  int rows = 0;
  bool header = true;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (header) {
      header = false;
      continue;
    }
    std::stringstream ss(line);
    double out = 0, inner = 0, tokens = 0, gpu_us = 0, npu_us = 0;
    char comma = 0;
    ss >> out >> comma >> inner >> comma >> tokens >> comma >> gpu_us >> comma >> npu_us;
    REQUIRE(ss);
    const char* name = inner == 14336 ? "down_proj" : out == 28672 ? "gate_up_proj" : "o_proj";
    Op op = models::ops::gemm(name, DType::fp16, wb, 2, tokens, out, inner, 1);
    for (const std::string engine : {"gpu", "npu"}) {
      op.engine = index_of(d, engine);
      const double measured = (engine == "gpu" ? gpu_us : npu_us) * 1e-6;
      INFO(name << " " << out << "x" << inner << " x" << tokens << " on " << engine);
      // Memory-bound rows and the down projection are fitted exactly; the two compute-bound GPU rows
      // share one constant efficiency (least squares), within 21%.
      const bool exact = tokens == 1 || inner == 14336 || engine == "npu";
      CHECK(cost.time(op) == Approx(measured).epsilon(exact ? 0.04 : 0.21));
    }
    ++rows;
  }
  CHECK(rows == 6);
  // Together: each GEMM no slower than the faster engine alone, and a decode GEMV bound by the
  // shared memory's 0.91 x 68 GB/s at best.
  Op gemv = models::ops::gemm("gate_up_proj", DType::fp16, wb, 2, 1, 28672, 4096, 1);
  Op alone = gemv;
  alone.engine = index_of(d, "gpu");
  const double gpu = cost.time(alone);
  alone.engine = index_of(d, "npu");
  const double npu = cost.time(alone);
  CHECK(cost.time(gemv) < std::min(gpu, npu));
  CHECK(cost.time(gemv) >= gemv.bytes() / (0.91 * 68e9));
}
