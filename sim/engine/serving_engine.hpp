#pragma once
// Runs a serving scenario on SimGrid (sim/engine/serving_run.hpp holds the run itself).
#include <cstdint>

#include "sim/metrics/recorder.hpp"
#include "sim/scenario/scenario.hpp"

namespace hetsim::sim {

struct EngineStats {
  std::int64_t events = 0;         ///< simulated activities: arrivals and model steps
  std::int64_t engine_events = 0;  ///< model steps that were SimGrid events (the rest ran ahead)
  std::int64_t steady_steps = 0;   ///< model steps run as steady decodes (no batch or op graph built)
  std::int64_t peak_sequences = 0; ///< most sequences held at once (requests in flight, not in the trace)
};

struct EngineOptions {
  /// Steps nothing else could observe before they end run ahead without a SimGrid event (see
  /// replica_loop). Results are byte-identical either way; off is for checking exactly that.
  bool coalesce = true;
};

/// Issues the workload's requests when `scenario.arrivals` says, through router and replicas; results go to `recorder` (finished,
/// not committed). Call once per process: SimGrid allows one engine per process.
EngineStats run_serving(Scenario& scenario, Recorder& recorder, EngineOptions options = {});

}  // namespace hetsim::sim
