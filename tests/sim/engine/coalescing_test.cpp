// Coalescing (sim/engine/serving_engine.cpp, replica_loop): which runs let steps run ahead of
// SimGrid's clock, and that they then need far fewer SimGrid events. Byte-identical results with
// coalescing on and off are checked end to end (tests/e2e/coalescing_test.cpp, the golden test).
// One simulation per TEST_CASE: SimGrid allows one engine per process.
#include <catch2/catch.hpp>

#include "sim/engine/serving_engine.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/scenario/run_description.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/serving/controller.hpp"

using namespace hetsim;

namespace {
sim::EngineStats run(const std::string& workload, bool coalesce, std::int64_t* steps = nullptr,
                     const std::string& controllers = "[]", std::unique_ptr<policies::Controller> extra = nullptr,
                     const std::string& router = "{impl: least_outstanding}") {
  const std::string yaml = "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb, node: hgx-h100, replicas: 2}\n"
                           "policies: {router: " + router + ", controllers: " + controllers + "}\n" + workload;
  auto doc = config::Document::load_string(yaml, "coalescing.yaml");
  sim::Scenario sc = sim::load_scenario(doc);
  if (extra) sc.controllers.push_back(std::move(extra));
  sim::Recorder recorder(sim::describe_run(sc), "");
  const auto stats = sim::run_serving(sc, recorder, sim::EngineOptions{.coalesce = coalesce});
  if (steps) *steps = recorder.step_count();
  return stats;
}

/// Looks at the cluster from a hook: on its first step end, sets a timer 1 ms later, while the
/// timer actor sleeps until an autoscaler's next look; counts when its timer fired.
class HookTimer final : public policies::Controller {
 public:
  explicit HookTimer(std::vector<double>* fired) : fired_(fired) {}
  void attach(serving::ClusterFacade& cluster) override { cluster_ = &cluster; }
  void on_step_end(std::size_t) override {
    if (set_) return;
    set_ = true;
    const double at = cluster_->now() + 1e-3;
    fired_->push_back(at);
    cluster_->set_timer(at, [this] { fired_->push_back(cluster_->now()); });
  }

 private:
  serving::ClusterFacade* cluster_ = nullptr;
  std::vector<double>* fired_;
  bool set_ = false;
};

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

TEST_CASE("coalescing: controllers that act only in their timers let steps run ahead up to their next look",
          "[engine][coalescing]") {
  // An autoscaler that keeps both instances (min 2) looks every 2 s; a drain trigger with nothing
  // draining looks every 50 ms but is idle, so only the autoscaler's looks bound a run ahead.
  std::int64_t steps = 0;
  const auto stats = run(kOpenLoop, true, &steps, "[{impl: migrate_drain}, {impl: autoscale, target: 8, min: 2}]");
  REQUIRE(steps > 10000);
  const std::int64_t looks = 60 / 2;  // the run lasts about 55 s
  CHECK(stats.engine_events <= 2 * 2 * (200 + looks));
  CHECK(stats.steady_steps > steps / 2);
}

TEST_CASE("coalescing: a controller that looks every 50 ms bounds every run ahead by its looks", "[engine][coalescing]") {
  std::int64_t steps = 0;
  const auto stats = run(kOpenLoop, true, &steps, "[{impl: migrate_load_balance, interval: 50 ms}]");
  REQUIRE(steps > 10000);
  // Steps take ~10 ms: about five run between looks; each look and arrival costs a step per
  // replica as an event.
  CHECK(stats.engine_events < steps / 2);
  CHECK(stats.engine_events >= 55 / 0.05);
}

TEST_CASE("coalescing: a controller acting in hooks runs every step as an event, and its timer set while the timer "
          "actor sleeps fires on time", "[engine][coalescing]") {
  std::vector<double> fired;
  std::int64_t steps = 0;
  const auto stats = run(kOpenLoop, true, &steps, "[{impl: autoscale, target: 8, min: 2, interval: 10 s}]",
                         std::make_unique<HookTimer>(&fired));
  REQUIRE(steps > 0);
  CHECK(stats.engine_events == steps);
  REQUIRE(fired.size() == 2);
  CHECK(fired[1] == Approx(fired[0]).epsilon(1e-12));
  CHECK(fired[1] < 10.0);  // before the autoscaler's first look, which the timer actor sleeps for
}

TEST_CASE("coalescing: a router reading loads refreshed every second lets steps run ahead up to the next refresh",
          "[engine][coalescing]") {
  std::int64_t steps = 0;
  const auto stats = run(kOpenLoop, true, &steps, "[]", nullptr, "{impl: least_outstanding, refresh: 1 s}");
  REQUIRE(steps > 10000);
  CHECK(stats.engine_events <= 2 * 2 * (200 + 60));
}
