// The recorder on hand-made events: invariants it enforces, and a metric declared here (one
// declaration + one emit) reaching steps.csv, the per-instance aggregate, the run aggregate and the
// schema with no other edit.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "metrics_support.hpp"
#include "sim/core/error.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/metrics/serving_metrics.hpp"
#include "sim/metrics/summary.hpp"
#include "support.hpp"

using namespace hetsim;
using Catch::Matchers::Contains;
namespace sm = sim::serving_metrics;

namespace {
sim::StepRow step(int replica, double start, double duration, std::int64_t kv_used = 0) {
  sim::StepRow row;
  row.replica = replica;
  row.start = start;
  row.duration = duration;
  row.set(sm::kKvBlocksTotal, 10);
  row.set(sm::kKvBlocksUsed, kv_used);
  return row;
}

// The extra metric: declared on first use (after the program's static declarations, so it is the
// last column), present only in runs with the feature "test_extra".
const metrics::StepMetric& extra_metric() {
  static const metrics::StepMetric m = metrics::declare_step(
      {.name = "test_extra_flops", .type = metrics::Type::integer, .unit = "FLOP",
       .description = "a metric declared by a test", .column = "test_extra_flops", .only_with = "test_extra",
       .instance = {metrics::Agg::sum, "test_extra_flops"}});
  static const bool run_total = (metrics::declare({.name = "test_extra_flops", .type = metrics::Type::integer,
                                                   .unit = "FLOP", .description = "all instances",
                                                   .agg = metrics::Agg::sum, .from = "test_extra_flops",
                                                   .key = "test_extra.flops", .sweep = "test_extra_flops",
                                                   .only_with = "test_extra"}),
                                 true);
  (void)run_total;
  return m;
}
}  // namespace

TEST_CASE("sim::Recorder: time going backwards throws", "[metrics]") {
  sim::Recorder rec(test::run_info(2), "");
  rec.on_arrival(test::request(0, 1.0), 1.0);
  SECTION("an arrival before results already written") {
    rec.release_before(1.0);
    REQUIRE_NOTHROW(rec.on_arrival(test::request(1, 1.0), 1.0));  // at the release time itself: fine
    REQUIRE_THROWS_AS(rec.on_arrival(test::request(1, 0.5), 0.5), InvariantError);
    REQUIRE_THROWS_WITH(rec.on_arrival(test::request(1, 0.5), 0.5), Contains("time went backwards"));
  }
  SECTION("a step ending before results already written") {
    rec.release_before(2.0);
    REQUIRE_THROWS_WITH(rec.on_complete(0, 0, 1.5, 0), Contains("time went backwards"));
  }
  SECTION("at the same time is fine") { REQUIRE_NOTHROW(rec.on_arrival(test::request(1, 1.0), 1.0)); }
  SECTION("a step overlapping the instance's previous step") {
    rec.on_step(step(0, 1.0, 0.5));
    REQUIRE_THROWS_WITH(rec.on_step(step(0, 1.4, 0.1)), Contains("overlaps"));
    REQUIRE_NOTHROW(rec.on_step(step(0, 1.5, 0.1)));  // starting exactly at the previous end
  }
  SECTION("a negative step duration") { REQUIRE_THROWS_WITH(rec.on_step(step(0, 2.0, -1e-9)), Contains("overlaps")); }
}

TEST_CASE("sim::Recorder: what instances report ahead of the clock is written in time order", "[metrics]") {
  // Coalesced instances report steps and request ends ahead of the engine's clock, so reports
  // reach the recorder out of time order; rows come out by end time, then instance, and the
  // requests-in-system integral is the in-order one.
  test::TempDir dir("recorder_order");
  const std::string out = dir.file("res");
  sim::Recorder rec(test::run_info(2, {}, 2), out);
  rec.on_arrival(test::request(0, 0.0), 0.0);
  rec.on_arrival(test::request(1, 0.0), 0.0);
  rec.on_first_scheduled(0, 1, 0.0);
  rec.on_first_scheduled(1, 0, 0.0);
  // Instance 1 runs ahead: three steps and its request's end, before instance 0 reports anything.
  rec.on_step(step(1, 0.0, 1.0));
  rec.on_step(step(1, 1.0, 1.0));
  rec.on_step(step(1, 2.0, 2.0));
  rec.on_complete(0, 0, 4.0, 1);
  rec.on_step(step(0, 0.0, 2.0));  // ends at 2.0, as instance 1's second step: instance 0 first
  rec.release_before(2.5);
  rec.on_step(step(0, 2.0, 0.5));  // 2.5: not yet released
  rec.on_complete(1, 0, 2.5, 0);
  rec.finish(4.0);
  rec.commit();
  const auto rows = test::read_csv(out + "/steps.csv");
  REQUIRE(rows.size() == 5);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"1", "0"}, {"0", "0"}, {"1", "1"}, {"0", "2"}, {"1", "2"}};  // (replica, start) by end 1, 2, 2, 2.5, 4
  for (std::size_t k = 0; k < rows.size(); ++k) {
    INFO("row " << k);
    CHECK(rows[k].at("replica") == expected[k].first);
    CHECK(rows[k].at("start_s") == expected[k].second);
  }
  // Two requests in the system until 2.5, one until 4.0: (2 x 2.5 + 1 x 1.5) / 4.
  CHECK(rec.mean_in_system() == Approx(6.5 / 4.0));
  CHECK(rec.peak_in_system() == 2);
}

TEST_CASE("sim::Recorder: the peak in system counts what was held for some time", "[metrics]") {
  // An arrival rejected on the spot, and a request ending as another arrives, net out in either order.
  sim::Recorder rec(test::run_info(3), "");
  rec.on_arrival(test::request(0, 0.0), 0.0);
  rec.on_arrival(test::request(1, 1.0), 1.0);
  rec.on_reject(1, 0, "test", 1.0);
  rec.on_arrival(test::request(2, 2.0), 2.0);
  rec.on_first_scheduled(0, 0, 0.0);
  rec.on_complete(0, 0, 2.0, 0);
  rec.on_first_scheduled(2, 0, 2.0);
  rec.on_complete(2, 0, 3.0, 0);
  rec.finish(3.0);
  CHECK(rec.peak_in_system() == 1);
  CHECK(rec.mean_in_system() == Approx(1.0));
}

TEST_CASE("sim::Recorder: KV blocks in use over capacity throw", "[metrics]") {
  sim::Recorder rec(test::run_info(0), "");
  REQUIRE_NOTHROW(rec.on_step(step(0, 0.0, 1.0, 10)));  // at capacity
  REQUIRE_THROWS_AS(rec.on_step(step(0, 1.0, 1.0, 11)), InvariantError);
  REQUIRE_THROWS_WITH(rec.on_step(step(0, 1.0, 1.0, 11)), Contains("kv_blocks_used = 11 > kv_blocks_total = 10"));
}

TEST_CASE("sim::Recorder: a request neither completed nor rejected throws at finish", "[metrics]") {
  sim::Recorder rec(test::run_info(2), "");
  rec.on_arrival(test::request(0, 0.0), 0.0);
  rec.on_arrival(test::request(1, 0.5), 0.5);
  rec.on_first_scheduled(0, 0, 0.5);
  rec.on_first_token(0, 0.7);
  rec.on_complete(0, 0, 1.0);
  SECTION("pending") { REQUIRE_THROWS_WITH(rec.finish(2.0), Contains("request 1 neither completed nor rejected")); }
  SECTION("rejected") {
    rec.on_reject(1, 0, "exceeds_kv_capacity: too long", 1.0);
    REQUIRE_NOTHROW(rec.finish(2.0));
  }
}

TEST_CASE("sim::Recorder: per-instance step aggregates (sum, max, time mean over the run)", "[metrics]") {
  sim::Recorder rec(test::run_info(0, {}, 2), "");
  auto row = step(0, 0.0, 1.0, 4);
  row.set(sm::kPrefillTokens, 100);
  rec.on_step(row);
  row = step(0, 1.0, 3.0, 8);
  row.set(sm::kPrefillTokens, 20);
  rec.on_step(row);
  rec.on_step(step(1, 0.0, 2.0, 2));
  rec.finish(8.0);
  const auto s = sim::summarize(rec);
  const auto& r0 = s.instances[0];
  const auto& cat = metrics::catalog();
  auto inst = [&](const std::vector<sim::Value>& v, const char* name) {
    return s.number(v, {cat.find(metrics::Scope::instance, name)});
  };
  CHECK(inst(r0, "prefill_tokens") == 120);
  CHECK(inst(r0, "steps") == 2);
  CHECK(inst(r0, "busy_fraction") == Approx(4.0 / 8.0));
  CHECK(inst(r0, "kv_utilization_peak") == Approx(0.8));
  CHECK(inst(r0, "kv_utilization_mean") == Approx((4 * 1.0 + 8 * 3.0) / (10 * 8.0)));  // idle time counts as 0
  CHECK(inst(s.instances[1], "kv_utilization_mean") == Approx(2 * 2.0 / 80.0));
  CHECK(s.number(sm::kSteps) == 3);  // run: sum over instances
  CHECK(s.number({cat.find(metrics::Scope::run, "kv_utilization_mean")}) ==
        Approx(((4 * 1.0 + 8 * 3.0) / 80.0 + 4.0 / 80.0) / 2));  // run: mean over instances
  CHECK(s.number({cat.find(metrics::Scope::run, "kv_utilization_peak")}) == Approx(0.8));  // run: max
}

TEST_CASE("sim::Recorder: a step metric declared once and emitted once reaches every output", "[metrics]") {
  const metrics::StepMetric flops = extra_metric();
  test::TempDir dir("recorder_extra");
  for (const bool on : {true, false}) {
    DYNAMIC_SECTION((on ? "with" : "without") << " the feature") {
      const std::string out = dir.file(on ? "on" : "off");
      sim::Recorder rec(test::run_info(0, on ? std::vector<std::string>{"test_extra"} : std::vector<std::string>{}), out);
      for (int i = 0; i < 3; ++i) {
        auto row = step(0, i, 1.0, 1);
        row.set(flops, 1000 * (i + 1));  // the one emit
        rec.on_step(row);
      }
      rec.finish(3.0);
      sim::write_summary(rec);
      rec.commit();
      const auto rows = test::read_csv(out + "/steps.csv");
      REQUIRE(rows.size() == 3);
      const auto summary = nlohmann::json::parse(test::read_file(out + "/summary.json"));
      const auto schema = nlohmann::json::parse(test::read_file(out + "/metrics_schema.json"));
      if (on) {
        CHECK(rows[2].at("test_extra_flops") == "3000");
        CHECK(summary["replicas"][0]["test_extra_flops"] == 6000);
        CHECK(summary["test_extra"]["flops"] == 6000);
        CHECK(schema["steps_csv"].back() == "test_extra_flops");
      } else {
        CHECK(rows[2].count("test_extra_flops") == 0);
        CHECK_FALSE(summary["replicas"][0].contains("test_extra_flops"));
        CHECK_FALSE(summary.contains("test_extra"));
      }
      CHECK(rows[2].at("kv_blocks_used") == "1");
    }
  }
}
