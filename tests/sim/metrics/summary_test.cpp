// The summary on hand-made runs: percentiles, Little's law, goodput under SLOs, conditional
// metrics, and the writers generated from the declarations.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "metrics_support.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/metrics/serving_metrics.hpp"
#include "sim/metrics/summary.hpp"

using namespace hetsim;
using Catch::Matchers::Contains;
namespace sm = sim::serving_metrics;

namespace {
/// Two requests on one instance: 0 arrives at 0, first token 0.2, done at 2; 1 arrives at 1,
/// first token 2.0, done at 3 (3 output tokens each). The run ends at 4.
sim::Recorder two_requests(sim::RunInfo info) {
  sim::Recorder rec(std::move(info), "");
  rec.on_arrival(test::request(0, 0.0), 0.0);
  rec.on_first_scheduled(0, 0, 0.1);
  rec.on_first_token(0, 0.2);
  rec.on_arrival(test::request(1, 1.0), 1.0);
  rec.on_first_scheduled(1, 0, 1.5);
  rec.on_complete(0, 1, 2.0);
  rec.on_first_token(1, 2.0);
  rec.on_complete(1, 0, 3.0);
  rec.finish(4.0);
  return rec;
}
}  // namespace

TEST_CASE("sim::describe: mean and numpy-style percentiles of known values", "[metrics]") {
  SECTION("1..5") {
    const auto s = sim::describe({5, 1, 4, 2, 3});
    CHECK(s.count == 5);
    CHECK(s.mean == Approx(3));
    CHECK(s.p50 == Approx(3));
    CHECK(s.p90 == Approx(4.6));
    CHECK(s.p99 == Approx(4.96));
    CHECK(s.max == 5);
  }
  SECTION("one value") {
    const auto s = sim::describe({7});
    CHECK((s.p50 == 7 && s.p99 == 7 && s.mean == 7));
  }
  SECTION("empty: zeros") {
    const auto s = sim::describe({});
    CHECK((s.count == 0 && s.mean == 0 && s.p99 == 0 && s.max == 0));
  }
}

TEST_CASE("sim::summarize: Little's law fields", "[metrics]") {
  const auto rec = two_requests(test::run_info(2));
  const auto s = sim::summarize(rec);
  // In system: 1 over [0,1), 2 over [1,2), 1 over [2,3), 0 over [3,4): area 4 over 4 s.
  CHECK(s.number(sm::kMeanInSystem) == Approx(1.0));
  CHECK(s.number(sm::kArrivalRate) == Approx(0.5));
  CHECK(s.number(sm::kMeanSojourn) == Approx(2.0));
  CHECK(s.number(sm::kLambdaTimesW) == Approx(1.0));
  const auto j = nlohmann::json::parse(sim::summary_json(s));
  CHECK(j["littles_law"]["mean_in_system"] == Approx(1.0));
  CHECK(j["littles_law"]["lambda_times_w"] == Approx(1.0));
  CHECK(j["requests"]["completed"] == 2);
  CHECK(j["preemptions"] == 1);
  CHECK(j["latency_s"]["ttft"]["max"] == Approx(1.0));
  CHECK(j["latency_s"]["queue"]["mean"] == Approx(0.3));
  CHECK(j["replicas"][0]["completed"] == 2);
  CHECK(j["pools"][0]["latency_s"]["ttft"]["count"] == 2);
}

TEST_CASE("sim::summarize: goodput counts the requests meeting every SLO", "[metrics]") {
  SECTION("TTFT <= 0.5 s: request 0 (0.2 s) meets it, request 1 (1.0 s) does not") {
    auto info = test::run_info(2, {"slo"});
    info.slo.ttft = 0.5;
    const auto s = sim::summarize(two_requests(info));
    CHECK(s.number(sm::kGoodput) == Approx(1.0 / 4.0));
    CHECK(s.number(sm::kSloAttainment) == Approx(0.5));
    CHECK(nlohmann::json::parse(sim::summary_json(s))["goodput"]["slo_attainment"] == Approx(0.5));
    CHECK_THAT(sim::summary_table(s), Contains("goodput     0.250 req/s (50.0% of requests meet TTFT <= 500 ms)"));
  }
  SECTION("TTFT <= 1 s (inclusive): both meet it") {
    auto info = test::run_info(2, {"slo"});
    info.slo.ttft = 1.0;
    CHECK(sim::summarize(two_requests(info)).number(sm::kSloAttainment) == Approx(1.0));
  }
  SECTION("TPOT <= 0.6 s: request 0 (0.9 s per token) misses, request 1 (0.5 s) meets it") {
    auto info = test::run_info(2, {"slo"});
    info.slo.tpot = 0.6;
    CHECK(sim::summarize(two_requests(info)).number(sm::kSloAttainment) == Approx(0.5));
  }
  SECTION("no SLO: no goodput metric in the run, nor in summary.json and the table") {
    const auto s = sim::summarize(two_requests(test::run_info(2)));
    CHECK_FALSE(nlohmann::json::parse(sim::summary_json(s)).contains("goodput"));
    CHECK_THAT(sim::summary_table(s), !Contains("goodput"));
  }
}

TEST_CASE("sim::summarize: KV-swap metrics exist only when the run has the feature", "[metrics]") {
  SECTION("with") {
    const auto s = sim::summarize(two_requests(test::run_info(2, {"kv_swap"})));
    const auto j = nlohmann::json::parse(sim::summary_json(s));
    CHECK(j["kv_swap"]["out_tokens"] == 0);
    CHECK_THAT(sim::summary_table(s), Contains("KV swap     0 tokens out, 0 in, 0.00 GB moved"));
  }
  SECTION("without") {
    const auto s = sim::summarize(two_requests(test::run_info(2)));
    CHECK_FALSE(nlohmann::json::parse(sim::summary_json(s)).contains("kv_swap"));
    CHECK_THAT(sim::summary_table(s), !Contains("KV swap"));
  }
}

TEST_CASE("sim::summary_table: lines generated from the declarations", "[metrics]") {
  sim::Recorder rec(test::run_info(3), "");
  rec.on_arrival(test::request(0, 0.0), 0.0);
  rec.on_reject(0, 0, "exceeds_kv_capacity: needs 20 KV blocks > 10", 0.0);
  rec.on_arrival(test::request(1, 0.0), 0.0);
  rec.on_reject(1, 0, "exceeds_kv_capacity: needs 30 KV blocks > 10", 0.0);
  rec.on_arrival(test::request(2, 1.0), 1.0);
  rec.on_reject(2, 0, "exceeds_max_model_len: 9000 > 8192", 1.0);
  rec.finish(2.0);
  const auto table = sim::summary_table(sim::summarize(rec));
  CHECK_THAT(table, Contains("  requests    0 completed, 3 rejected, 0 preemptions, 0 steps, 2.000 s simulated\n"));
  CHECK_THAT(table, Contains("  rejected    2 x exceeds_kv_capacity\n  rejected    1 x exceeds_max_model_len\n"));
  CHECK_THAT(table, Contains("  cost        $1.00/h for 1 GPUs; $0.000 per 1M output tokens\n"));
}

TEST_CASE("metrics::declare: bad declarations fail at startup", "[metrics]") {
  using metrics::Scope;
  REQUIRE_THROWS_WITH(metrics::declare({.name = "ttft", .scope = Scope::request}), Contains("declared twice"));
  REQUIRE_THROWS_WITH(metrics::declare({.name = "x_sum", .scope = Scope::run, .agg = metrics::Agg::sum, .from = "nope"}),
                      Contains("aggregates 'nope'"));
  REQUIRE_THROWS_WITH(metrics::declare({.name = "x_col", .scope = Scope::run, .column = "x"}),
                      Contains("only step metrics have a steps.csv column"));
  REQUIRE_THROWS_WITH(metrics::declare({.name = "x_tm", .scope = Scope::run, .agg = metrics::Agg::time_mean,
                                        .from = "prefill_tokens"}),
                      Contains("time_mean"));
}
