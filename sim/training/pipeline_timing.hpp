#pragma once
// Replays a pipeline schedule's order with fixed pass durations and free communication: the
// analytic check of a schedule (bubble, activations held) before the event engine prices passes
// and transfers. Each rank runs its ops in its order; an op starts when the previous op on its
// rank and every op it depends on (training::dependencies) have ended.
#include <vector>

#include "sim/training/pipeline_schedule.hpp"

namespace hetsim::training {

/// Duration of one pass of one microbatch through one chunk; a fused backward takes B + W.
struct PassDurations {
  double forward = 1.0;
  double backward_input = 1.0;
  double backward_weight = 1.0;
  double of(PassKind kind) const;
};

struct TimedOp {
  PipelineOp op;
  double start = 0.0;
  double end = 0.0;
};

struct PipelineTiming {
  std::vector<std::vector<TimedOp>> ranks;  ///< per rank, in its order
  double makespan = 0.0;
  /// Per rank, the most microbatch chunks whose forward has run and whose backward (input part)
  /// has not: the activations it holds at its peak.
  std::vector<int> peak_activations;
  /// Per rank and chunk, the same count for that chunk's microbatches alone.
  std::vector<std::vector<int>> peak_chunk_activations;
};

/// InvariantError if an op is out of the shape, runs twice, or can never start (naming the rank,
/// the op and what it waits for): a broken order fails, it never hangs.
PipelineTiming replay(const PipelineShape& shape, const std::vector<std::vector<PipelineOp>>& order,
                      const PassDurations& durations);

}  // namespace hetsim::training
