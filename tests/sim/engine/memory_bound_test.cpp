// A run holds state for the requests in flight, not for the whole workload: the engine's
// sequences are recycled as requests end, and the recorder keeps only the records of requests
// still in the system (the rest went to the tally and requests.csv in id order).
// One simulation per TEST_CASE: SimGrid allows one engine per process.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "sim/engine/serving_engine.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/metrics/serving_metrics.hpp"
#include "sim/metrics/summary.hpp"
#include "sim/scenario/run_description.hpp"
#include "sim/scenario/scenario.hpp"

using namespace hetsim;

namespace {
struct Outcome {
  sim::EngineStats stats;
  std::int64_t peak_in_system = 0;
  sim::RequestCounts counts;
  std::int64_t records = 0;
  bool in_order = true;
};

Outcome run(const std::string& workload) {
  const std::string yaml = "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb, replicas: 2}\n" + workload;
  auto doc = config::Document::load_string(yaml, "memory_bound.yaml");
  sim::Scenario sc = sim::load_scenario(doc);
  sim::Recorder recorder(sim::describe_run(sc), "");
  Outcome o;
  std::int64_t last = -1;
  recorder.add_request_sink([&](const sim::RequestRecord& r) {
    o.in_order = o.in_order && r.id == last + 1;
    last = r.id;
    ++o.records;
  });
  o.stats = sim::run_serving(sc, recorder);
  o.peak_in_system = recorder.peak_in_system();
  o.counts = recorder.tally().counts();
  return o;
}
}  // namespace

TEST_CASE("memory: an open-loop run keeps as many sequences as it has requests in flight, not in the trace",
          "[engine][memory]") {
  const Outcome o = run("workload: {source: synthetic, num_requests: 20000, arrival: {rate: 20}, prompt_tokens: 300, "
                        "output_tokens: 30}\n");
  REQUIRE(o.counts.requests == 20000);
  CHECK(o.counts.completed == 20000);
  CHECK(o.records == 20000);
  CHECK(o.in_order);
  // 20 requests/s of ~0.3 s each: a handful in the system at once. A request rejected on arrival
  // holds a sequence for no time, which the in-system peak does not count.
  REQUIRE(o.peak_in_system > 0);
  CHECK(o.stats.peak_sequences <= o.peak_in_system + 1);
  CHECK(o.stats.peak_sequences < 100);
}

TEST_CASE("memory: closed-loop clients never hold more sequences than there are clients", "[engine][memory]") {
  const Outcome o = run("workload: {source: synthetic, num_requests: 3000, concurrency: 6, prompt_tokens: 200, "
                        "output_tokens: 20}\n");
  REQUIRE(o.counts.completed == 3000);
  CHECK(o.in_order);
  CHECK(o.stats.peak_sequences <= 6);
  CHECK(o.peak_in_system == 6);
}

TEST_CASE("memory: past 65,536 completed requests the summary's percentiles come from the sketch, with their bound",
          "[engine][memory]") {
  // 70,000 short requests: TTFT, E2E and queueing pass the exact limit (TPOT too: 2 output tokens).
  const std::string yaml = "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb, replicas: 2}\n"
                           "workload: {source: synthetic, num_requests: 70000, arrival: {rate: 400}, prompt_tokens: "
                           "{dist: uniform, min: 16, max: 256}, output_tokens: 2}\n";
  auto doc = config::Document::load_string(yaml, "sketch.yaml");
  sim::Scenario sc = sim::load_scenario(doc);
  sim::Recorder recorder(sim::describe_run(sc), "");
  std::vector<double> ttft;  // every value, to check the sketch against
  recorder.add_request_sink([&](const sim::RequestRecord& r) {
    if (r.status == sim::RequestStatus::completed) ttft.push_back(r.ttft());
  });
  const auto stats = sim::run_serving(sc, recorder);
  CHECK(stats.peak_sequences < 1000);
  const sim::Summary s = sim::summarize(recorder);
  const auto& run = std::get<sim::Stats>(s.get(sim::serving_metrics::kRunTtft));
  REQUIRE(run.count == 70000);
  REQUIRE(ttft.size() == 70000);
  CHECK(run.max_rank_error > 0);
  CHECK(run.max_rank_error < 70000 / 100);  // the documented bound: (n/k)(floor(log2(n/k)) + 1), k = 16,384
  std::sort(ttft.begin(), ttft.end());
  CHECK(run.max == ttft.back());
  for (const auto [q, p] : {std::pair{0.5, run.p50}, std::pair{0.9, run.p90}, std::pair{0.99, run.p99}}) {
    // The reported value is an input value whose ranks come within the bound of the target rank.
    const auto target = static_cast<std::int64_t>(q * (70000 - 1));
    const auto lo = std::lower_bound(ttft.begin(), ttft.end(), p) - ttft.begin();
    const auto hi = std::upper_bound(ttft.begin(), ttft.end(), p) - ttft.begin() - 1;
    INFO("q " << q);
    REQUIRE(lo <= hi);  // p is one of the values
    CHECK(lo <= target + run.max_rank_error);
    CHECK(hi >= target - run.max_rank_error);
  }
  // The pool's distribution is the same requests (one pool), through its own sketch.
  const auto& pool = std::get<sim::Stats>(s.pools.at(0).at(sim::serving_metrics::kPoolTtft.index));
  CHECK(pool.count == 70000);
  CHECK(pool.p99 == run.p99);
  CHECK(sim::summary_json(s).find("\"max_rank_error\"") != std::string::npos);
}
