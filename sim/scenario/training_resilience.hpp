#pragma once
// The failure projection of a training run (sim/training/resilience): its inputs from the scenario
// (failure process, recovery costs, tokens to train) and from what the training engine measured
// on the platform (the checkpoint-free iteration, the checkpoint's stall, its background copies'
// length and their slowdown of the iterations they overlapped, the reload).
#include <optional>

#include "sim/metrics/training_records.hpp"
#include "sim/metrics/training_results.hpp"
#include "sim/scenario/training_scenario.hpp"

namespace hetsim::sim {

/// The inputs at the policy's interval (`every`, or Young's in whole iterations when auto).
training::ResilienceInputs resilience_inputs(const TrainingScenario& sc, const TrainingRecords& records,
                                             const TrainingSummary& summary);

/// The projection, if the scenario has a failure process (else nullopt).
std::optional<training::ResilienceReport> project_resilience(const TrainingScenario& sc, const TrainingRecords& records,
                                                             const TrainingSummary& summary);

}  // namespace hetsim::sim
