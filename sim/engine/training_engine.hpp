#pragma once
// Runs a training scenario on SimGrid: one actor per rank group (the TP x CP devices of one
// pipeline stage of one data-parallel replica, which run the same passes in lockstep), each
// running its pipeline schedule's order of passes; pipeline sends and data-parallel collectives
// are flows on the routed, contended platform network (NVLink inside a node, NICs and the
// fabric between nodes). Call once per process: SimGrid allows one engine per process.
#include "sim/metrics/training_records.hpp"
#include "sim/scenario/training_scenario.hpp"

namespace hetsim::sim {

struct TrainingOptions {
  bool timeline = false;  ///< keep every pass and transfer as a TimelineSpan
};

TrainingRecords run_training(const TrainingScenario& scenario, TrainingOptions options = {});

}  // namespace hetsim::sim
