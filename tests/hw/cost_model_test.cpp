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
