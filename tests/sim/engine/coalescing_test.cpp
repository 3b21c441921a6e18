// Coalescing (sim/engine/serving_engine.cpp, replica_loop): which runs let steps run ahead of
// SimGrid's clock, and that they then need far fewer SimGrid events. Byte-identical results with
// coalescing on and off are checked end to end (tests/e2e/coalescing_test.cpp, the golden test).
// One simulation per TEST_CASE: SimGrid allows one engine per process.
#include <catch2/catch.hpp>

#include "sim/engine/serving_engine.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/scenario/run_description.hpp"
#include "sim/scenario/scenario.hpp"

using namespace hetsim;

namespace {
sim::EngineStats run(const std::string& workload, bool coalesce, std::int64_t* steps = nullptr) {
  const std::string yaml = "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb, replicas: 2}\n"
                           "policies: {router: {impl: least_outstanding}}\n" + workload;
  auto doc = config::Document::load_string(yaml, "coalescing.yaml");
  sim::Scenario sc = sim::load_scenario(doc);
  sim::Recorder recorder(sim::describe_run(sc), "");
  const auto stats = sim::run_serving(sc, recorder, sim::EngineOptions{.coalesce = coalesce});
  if (steps) *steps = recorder.step_count();
  return stats;
}

const std::string kOpenLoop = "workload: {source: synthetic, num_requests: 200, arrival: {rate: 4}, prompt_tokens: 500, "
                              "output_tokens: 200}\n";
}  // namespace

TEST_CASE("coalescing: an open-loop run needs a SimGrid event only for steps that cross an arrival", "[engine][coalescing]") {
  std::int64_t steps = 0;
  const auto stats = run(kOpenLoop, true, &steps);
  // 200 arrivals, 200 tokens each at ~4 requests/s: tens of steps between arrivals, and at most
  // one step per replica crosses each arrival (plus the first step after an idle period).
  REQUIRE(steps > 10000);  // requests overlap, so steps are fewer than the 40,000 tokens
  CHECK(stats.events == steps + 200);
  CHECK(stats.engine_events <= 2 * 2 * 200);
}

TEST_CASE("coalescing: off, every step is a SimGrid event", "[engine][coalescing]") {
  std::int64_t steps = 0;
  const auto stats = run(kOpenLoop, false, &steps);
  CHECK(stats.engine_events == steps);
}

TEST_CASE("coalescing: a closed loop runs every step as an event (an end can issue the next request)",
          "[engine][coalescing]") {
  std::int64_t steps = 0;
  const auto stats = run("workload: {source: synthetic, num_requests: 40, concurrency: 4, prompt_tokens: 200, "
                         "output_tokens: 50}\n", true, &steps);
  REQUIRE(steps > 0);
  CHECK(stats.engine_events == steps);
}
