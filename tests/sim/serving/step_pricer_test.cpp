// The step pricer caches what depends only on token counts and must equal pricing every op of the
// step, to the bit, on every kind of device and placement.
#include <catch2/catch.hpp>

#include <random>

#include "catalog_entries.hpp"
#include "models/step_ops.hpp"
#include "sim/serving/step_pricer.hpp"

using namespace hetsim;

TEST_CASE("step pricer: cached pricing equals chain_time over the full step, bit for bit", "[serving][pricer]") {
  const auto model = test::catalog_model("llama-3-8b");
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
        serving::StepPricer pricer(model, plan, device, placement);
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
          CHECK(pricer.price(b) == cost.chain_time(ops));
        }
        CHECK(pricer.cached_shapes() < 300);  // shapes repeat: the cache is used
      }
    }
  }
}
