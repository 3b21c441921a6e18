#pragma once
// The metrics' view of a scenario (sim/metrics knows nothing of the scenario it records).
#include "sim/scenario/scenario.hpp"
#include "sim/metrics/run_info.hpp"
#include "sim/metrics/replay_results.hpp"
#include "sim/metrics/training_results.hpp"
#include "sim/scenario/replay_scenario.hpp"
#include "sim/scenario/training_scenario.hpp"

namespace hetsim::sim {

/// Names, fleet, per-instance capacities and prices, SLOs, output options and the features that
/// switch conditional metrics on ("kv_swap" if a preemption policy moves KV, "slo" if SLOs are set).
RunInfo describe_run(const Scenario& scenario);

/// Names, plan, batch, Megatron model FLOPs per iteration and the device's peak for a training run.
TrainingRunInfo describe_training_run(const TrainingScenario& scenario);

/// Names, cluster, traces and the what-if compute scaling of a trace replay.
ReplayRunInfo describe_replay_run(const ReplayScenario& scenario);

}  // namespace hetsim::sim
