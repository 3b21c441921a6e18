#pragma once
// Runs a serving scenario on SimGrid. The only file in hetsim that includes SimGrid headers.
#include <cstdint>

#include "sim/metrics/recorder.hpp"
#include "sim/scenario/scenario.hpp"

namespace hetsim::sim {

struct EngineStats {
  std::int64_t events = 0;  ///< simulated activities: arrivals and model steps
};

/// Issues `scenario.requests` when `scenario.arrivals` says, through router and replicas; results go to `recorder` (finished,
/// not committed). Call once per process: SimGrid allows one engine per process.
EngineStats run_serving(Scenario& scenario, Recorder& recorder);

}  // namespace hetsim::sim
