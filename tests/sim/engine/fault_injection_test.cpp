// Faults injected into the engine: schedulers, registered only in this test binary, that return
// batches the engine cannot run. Each must stop the run with an InvariantError naming the fault,
// never a hang or a silent result. One simulation per TEST_CASE (one SimGrid engine per process).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/engine/serving_engine.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/scenario/run_description.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/serving/scheduler.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

enum class Fault { empty, no_kv, too_many_tokens, zero_tokens, twice, finished };

/// Admits and decodes like a minimal FCFS scheduler, then breaks the batch as `F` says.
template <Fault F>
class FaultyScheduler final : public policies::Scheduler {
 public:
  explicit FaultyScheduler(const config::Node&) {}
  void schedule(policies::ReplicaQueues& q, std::vector<policies::ScheduledItem>& batch) override {
    if constexpr (F == Fault::empty) return;
    if constexpr (F == Fault::finished) {
      // Keeps pointers to the sequences it decoded and schedules one again once it has ended
      // (sequences outlive their run on a replica, so the pointers stay valid).
      for (policies::Sequence* s : decoded_)
        if (s->finished()) {
          batch.push_back({s, 1});
          return;
        }
      for (policies::Sequence* s : q.running())
        if (std::find(decoded_.begin(), decoded_.end(), s) == decoded_.end()) decoded_.push_back(s);
    }
    if constexpr (F == Fault::no_kv) {
      // Feeds the whole prompt of a waiting sequence without reserving its KV.
      policies::Sequence& head = *q.waiting().front();
      batch.push_back({&head, head.pending()});
      return;
    }
    if (!q.waiting().empty()) {
      policies::Sequence& head = *q.waiting().front();
      const std::int64_t tokens = head.pending();
      if (q.admit_head(tokens)) {
        if constexpr (F == Fault::too_many_tokens) batch.push_back({&head, tokens + 1});
        else if constexpr (F == Fault::zero_tokens) batch.push_back({&head, 0});
        else if constexpr (F == Fault::twice) batch.push_back({&head, tokens}), batch.push_back({&head, tokens});
        else batch.push_back({&head, tokens});
        return;
      }
    }
    for (policies::Sequence* s : q.running()) {
      if (!q.reserve_running(*s, 1)) break;
      batch.push_back({s, 1});
    }
  }
  std::optional<std::int64_t> unsplit_token_limit() const override { return 8192; }
  policies::StepLimits step_limits() const override { return {8192, 256}; }

 private:
  std::vector<policies::Sequence*> decoded_;  ///< Fault::finished: sequences it may bring back after their end
};

HETSIM_REGISTER(policies::Scheduler, FaultyScheduler<Fault::empty>, "test-empty", "test: returns no work");
HETSIM_REGISTER(policies::Scheduler, FaultyScheduler<Fault::no_kv>, "test-no-kv", "test: schedules without KV");
HETSIM_REGISTER(policies::Scheduler, FaultyScheduler<Fault::too_many_tokens>, "test-too-many-tokens",
                "test: feeds more tokens than are pending");
HETSIM_REGISTER(policies::Scheduler, FaultyScheduler<Fault::zero_tokens>, "test-zero-tokens", "test: feeds no tokens");
HETSIM_REGISTER(policies::Scheduler, FaultyScheduler<Fault::twice>, "test-twice", "test: one sequence twice in a batch");
HETSIM_REGISTER(policies::Scheduler, FaultyScheduler<Fault::finished>, "test-finished",
                "test: schedules a sequence after it has finished");


/// Runs a small scenario with scheduler `impl`; returns what the run threw ("" if nothing).
std::string run_with(const std::string& impl, const std::string& output_tokens = "20") {
  const std::string yaml = fmt::format(R"(
model: llama-3-8b
cluster: {{device: h100-sxm5-80gb, replicas: 1}}
policies: {{scheduler: {{impl: {}}}}}
workload:
  source: synthetic
  num_requests: {}
  arrival: {{rate: 1000}}
  prompt_tokens: 100
  output_tokens: {}
)",
                                       impl, 2, output_tokens);
  auto doc = config::Document::load_string(yaml, "fault.yaml");
  sim::Scenario sc = sim::load_scenario(doc);
  sim::Recorder recorder(sim::describe_run(sc), "");
  try {
    sim::run_serving(sc, recorder);
  } catch (const InvariantError& e) {
    return e.what();
  }
  FAIL("the run ended without an InvariantError");
  return "";
}

}  // namespace

TEST_CASE("faults: a scheduler that chooses no work while sequences wait is an InvariantError", "[engine][faults]") {
  CHECK_THAT(run_with("test-empty"), Contains("replica 0: 1 waiting and 0 running sequences but the scheduler chose no work"));
}

TEST_CASE("faults: a scheduler that feeds tokens without reserving their KV is an InvariantError", "[engine][faults]") {
  CHECK_THAT(run_with("test-no-kv"), Contains("the scheduler fed 100 tokens to sequence 0 (0 computed), which needs 7 KV "
                                              "blocks in device memory but holds 0: KV must be reserved"));
}

TEST_CASE("faults: a scheduler that feeds more tokens than are pending is an InvariantError", "[engine][faults]") {
  CHECK_THAT(run_with("test-too-many-tokens"),
             Contains("the scheduler fed 101 tokens to sequence 0, which has 100 pending (expected 1 to 100)"));
}

TEST_CASE("faults: a scheduler that feeds a sequence no tokens is an InvariantError", "[engine][faults]") {
  CHECK_THAT(run_with("test-zero-tokens"), Contains("the scheduler fed 0 tokens to sequence 0"));
}

TEST_CASE("faults: a scheduler that puts one sequence in a batch twice is an InvariantError", "[engine][faults]") {
  CHECK_THAT(run_with("test-twice"), Contains("the scheduler put sequence 0 in one batch twice"));
}

TEST_CASE("faults: a scheduler that brings back a finished sequence is an InvariantError", "[engine][faults]") {
  // Output lengths differ, so that one sequence ends while the other still runs.
  CHECK_THAT(run_with("test-finished", "{dist: uniform, min: 5, max: 60}"), Contains("which has already finished"));
}
