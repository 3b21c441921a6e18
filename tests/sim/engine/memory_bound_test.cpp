// A run holds state for the requests in flight, not for the whole workload: the engine's
// sequences are recycled as requests end, and the recorder keeps only the records of requests
// still in the system (the rest went to the tally and requests.csv in id order).
// One simulation per TEST_CASE: SimGrid allows one engine per process.
#include <catch2/catch.hpp>

#include "sim/engine/serving_engine.hpp"
#include "sim/metrics/recorder.hpp"
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
