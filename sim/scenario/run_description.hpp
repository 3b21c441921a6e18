#pragma once
// The metrics' view of a scenario (sim/metrics knows nothing of the scenario it records).
#include "sim/scenario/scenario.hpp"
#include "sim/metrics/run_info.hpp"

namespace hetsim::sim {

/// Names, fleet, per-instance capacities and prices, SLOs, output options and the features that
/// switch conditional metrics on ("kv_swap" if a preemption policy moves KV, "slo" if SLOs are set).
RunInfo describe_run(const Scenario& scenario);

}  // namespace hetsim::sim
