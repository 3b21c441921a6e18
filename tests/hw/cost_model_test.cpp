#include <catch2/catch.hpp>

#include "hw/cost_model.hpp"
#include "catalog_entries.hpp"
#include "models/step_ops.hpp"
#include "sim/core/catalog.hpp"

using namespace hetsim;

namespace {
Op gemm_op(double m, double n, double k) {
  Op op;
  op.name = "gemm";
  op.cls = OpClass::gemm;
  op.flops = 2 * m * n * k;
  op.weights.bytes = 2 * k * n;
  op.activations.bytes = 2 * (m * k + m * n);
  return op;
}
}  // namespace

TEST_CASE("cost model: with efficiencies 1 the time is exactly the roofline bound", "[hw][cost]") {
  const hw::Device d = test::ideal(test::catalog_device("h100-sxm5-80gb"));
  const hw::CostModel cost(d);
  SECTION("memory-bound GEMM (decode, M = 1)") {
    const Op op = gemm_op(1, 4096, 4096);
    CHECK(cost.time(op) == Approx(op.bytes() / d.memory().read_bandwidth).epsilon(1e-12));
  }
  SECTION("compute-bound GEMM (prefill, M = 8192)") {
    const Op op = gemm_op(8192, 4096, 4096);
    CHECK(cost.time(op) == Approx(op.flops / d.peak(DType::bf16)).epsilon(1e-12));
  }
  SECTION("ring all-reduce moves 2(k-1)/k of the payload") {
    Op op;
    op.cls = OpClass::collective;
    op.collective = Collective::all_reduce;
    op.group = 4;
    op.comm_bytes = 64e6;
    CHECK(cost.time(op) == Approx(2.0 * 3 / 4 * 64e6 / 450e9).epsilon(1e-12));
  }
}

TEST_CASE("cost model: efficiencies and launch overhead only ever add time", "[hw][cost]") {
  const hw::Device real = test::catalog_device("h100-sxm5-80gb");
  const hw::CostModel cost(real);
  auto model_doc = config::Document::load_string("model: llama-3-70b\n", "inline.yaml");
  auto m = catalog::with_preset(model_doc.root(), "model", "models/catalog");
  const auto spec = models::parse_model(m.node);
  for (int tp : {1, 2, 4, 8}) {
    models::BatchShape b;
    b.add_prefill(3000, 500, true);
    b.add_prefill(128, 0, false);
    for (int i = 0; i < 40; ++i) b.add_decode(100 + 50 * i);
    std::vector<Op> ops;
    models::step_ops(spec, b, tp, ops);
    for (const Op& op : ops) {
      INFO(op.name << " tp=" << tp);
      CHECK(cost.time(op) >= cost.roofline_bound(op));
      CHECK(cost.roofline_bound(op) > 0);
    }
  }
}

TEST_CASE("cost model: a device without the op's dtype is an error, not a silent zero", "[hw][cost]") {
  const hw::Device a100 = test::catalog_device("a100-sxm4-80gb");
  Op op = gemm_op(16, 16, 16);
  op.dtype = DType::fp8;
  REQUIRE_THROWS_WITH(hw::CostModel(a100).time(op), Catch::Contains("no fp8 peak"));
}

TEST_CASE("cost model: an FP8 GEMM runs the 16-bit curve at the device's FP8 ceiling", "[hw][cost]") {
  // H100: best-shape FP8 GEMMs reach 70.9% of the FP8 peak against BF16's 80.3% of its own
  // (gemm_dtype_ceiling fp8: 0.883), so a compute-bound FP8 GEMM takes 1 / 0.883 of the time the
  // BF16 curve gives at the FP8 peak; BF16 GEMMs and non-GEMM FP8 ops are unchanged.
  hw::Device h100 = test::catalog_device("h100-sxm5-80gb");
  REQUIRE(h100.gemm_dtype_ceiling[static_cast<std::size_t>(DType::fp8)] == 0.883);
  CHECK(h100.gemm_dtype_ceiling[static_cast<std::size_t>(DType::bf16)] == 1.0);
  hw::Device flat = h100;
  flat.gemm_dtype_ceiling.fill(1.0);
  Op fp8 = gemm_op(8192, 8192, 8192);  // compute-bound at either dtype
  fp8.dtype = DType::fp8;
  const auto scaled = hw::CostModel(h100).breakdown(fp8);
  const auto plain = hw::CostModel(flat).breakdown(fp8);
  CHECK(scaled.compute == Approx(plain.compute / 0.883).epsilon(1e-12));
  CHECK(hw::CostModel(h100).time(fp8) > hw::CostModel(flat).time(fp8));
  Op bf16 = gemm_op(8192, 8192, 8192);
  bf16.dtype = DType::bf16;
  CHECK(hw::CostModel(h100).time(bf16) == hw::CostModel(flat).time(bf16));
  Op cast = fp8;
  cast.cls = OpClass::elementwise;
  CHECK(hw::CostModel(h100).time(cast) == hw::CostModel(flat).time(cast));
  // The ideal roofline ignores it, as it ignores every efficiency.
  CHECK(hw::CostModel(h100).roofline_bound(fp8) == hw::CostModel(flat).roofline_bound(fp8));
}
