// Expert offload with a GPU expert cache (serving.expert_offload): the bytes a step loads follow
// the expected uncached experts its tokens touch; the cache keeps the hottest experts; on an idle
// platform a step costs the GPU's step plus each MoE layer's load (bytes / bandwidth + latency).
#include <catch2/catch.hpp>

#include <cmath>

#include "catalog_entries.hpp"
#include "sim/serving/expert_offload.hpp"
#include "sim/serving/step_pricer.hpp"

using namespace hetsim;

namespace {
serving::ExpertOffload offload_of(const models::ModelSpec& m, std::int64_t cached) {
  serving::ExpertOffload o;
  o.cached = cached;
  o.is_cached = serving::hottest_experts(m.moe, cached);
  o.link = {"pcie", 32e9, 2e-6};
  return o;
}
}  // namespace

TEST_CASE("expert offload: a step loads the uncached experts its tokens touch", "[serving][moe][expert_offload]") {
  const auto m = test::catalog_model("mixtral-8x7b");  // 8 experts of 4096 x 14336, top-2, 32 layers, bf16
  const double expert = 3.0 * 4096 * 14336 * 2;     // 352 MB
  for (std::int64_t cached : {0, 3, 8}) {
    const auto o = offload_of(m, cached);
    for (double T : {1.0, 4.0, 64.0}) {
      INFO(cached << " cached, " << T << " tokens");
      // Balanced: each uncached expert is touched with probability 1 - (1 - 2/8)^T.
      const double missed = static_cast<double>(8 - cached) * (1 - std::pow(0.75, T));
      CHECK(serving::expert_load_bytes(m, o, T, 1) == Approx(missed * expert));
      CHECK(serving::expert_load_bytes(m, o, T, 2) == Approx(missed * expert / 2));  // each rank its slice
    }
    CHECK(serving::host_expert_bytes(m, o, 1) == Approx(static_cast<double>(8 - cached) * expert * 32));
  }
  // Nothing to load when every expert is cached.
  CHECK(serving::expert_load_time(m, offload_of(m, 8), 16, 1) == 0);
}

TEST_CASE("expert offload: the cache keeps the experts with the largest shares", "[serving][moe][expert_offload]") {
  auto m = test::catalog_model("mixtral-8x7b");
  m.moe.expert_share = {0.05, 0.3, 0.05, 0.2, 0.1, 0.1, 0.15, 0.05};
  const auto hot = serving::hottest_experts(m.moe, 3);
  CHECK(hot == std::vector<bool>{false, true, false, true, false, false, true, false});
  // Skew with a cache of the hot ones loads less than balanced routing with the same cache.
  const auto skewed = offload_of(m, 3);
  auto flat = test::catalog_model("mixtral-8x7b");
  CHECK(serving::expert_load_bytes(m, skewed, 1, 1) < serving::expert_load_bytes(flat, offload_of(flat, 3), 1, 1));
}

TEST_CASE("expert offload: on an idle platform a step is the GPU's step plus each MoE layer's load",
          "[serving][moe][expert_offload]") {
  const auto m = test::catalog_model("mixtral-8x7b");
  const hw::Device gpu = test::catalog_device("l40s-48gb");
  const hw::ServingStack stack;
  ParallelPlan plan;
  serving::StepPricer plain(m, plan, gpu, {}, stack);
  serving::StepPricer offloaded(m, plan, gpu, {}, stack);
  const auto o = std::make_shared<serving::ExpertOffload>(offload_of(m, 3));
  offloaded.offload_experts(o);
  for (int seqs : {1, 8, 64}) {
    models::BatchShape b;
    for (int i = 0; i < seqs; ++i) b.add_decode(700 + i);
    const double load = serving::expert_load_bytes(m, *o, seqs, 1);
    CHECK(offloaded.price(b) == Approx(plain.price(b) + 32 * (load / 32e9 + 2e-6)).epsilon(1e-12));
  }
  CHECK_THROWS(offloaded.explain(models::BatchShape{}));
}
