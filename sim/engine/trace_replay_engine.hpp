#pragma once
// Replays recorded execution traces on SimGrid: one actor per rank, placed on its device of the
// cluster platform. An op starts when its dependencies (and the previous op of its stream, if it
// has one) are done. Compute ops of a rank run one at a time on its compute stream, for their
// recorded time scaled by op class to the cluster's device; collectives and point-to-point
// messages are re-simulated over the routed, contended network (NCCL-style rings, one flow per
// message) and overlap with compute. Call once per process: SimGrid allows one engine per process.
#include "sim/metrics/replay_records.hpp"
#include "sim/scenario/replay_scenario.hpp"

namespace hetsim::sim {

struct ReplayOptions {
  bool timeline = false;  ///< keep every op as a ReplaySpan
};

/// Runs the replay. InputError naming the rank and op when ops are left that can never run
/// (an unmatched receive, a collective some member never reaches, a dependency cycle).
ReplayRecords run_replay(const ReplayScenario& scenario, ReplayOptions options = {});

}  // namespace hetsim::sim
