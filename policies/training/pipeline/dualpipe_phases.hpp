#pragma once
// The eight phases of DeepSeek-AI's DualPipe order for one rank (DualPipe repository, dualpipe.py
// and dualpipev.py), shared by DualPipeV (policies/training/pipeline/dualpipe_v.cpp) and the
// bidirectional DualPipe (dualpipe.cpp). Chunks here are the rank's local phases: 0 the one whose
// microbatches enter nearer this rank, 1 the one they leave by; microbatch numbers count per chunk.
#include <vector>

#include "sim/training/pipeline_schedule.hpp"

namespace hetsim::policies {

/// Rank `r` of `p` ranks in a V with `m` microbatches (m >= 2p), r the distance from the V's
/// entry end: its passes in order, as (kind, per-chunk microbatch, local chunk).
///   1. 2(p-r-1) x F0                         5. p-r-1 x (B1, F1, B0)
///   2. r+1 x (F0, F1)                        6. r+1 x (B1, B0), W deferred from the middle on
///   3. p-r-1 x (B1 with W deferred, W, F1)    7. p-r-1 x (W, B0 with W deferred)
///   4. m-2p+r+1 x (F0, B1, F1, B0)           8. r+1 x W
/// where F0/F1/B0/B1 take the chunk's next micro-batch and W the oldest deferred weight gradient; a
/// backward whose W is not deferred runs its W right after it.
std::vector<training::PipelineOp> dualpipe_phases(int p, int r, int m);

}  // namespace hetsim::policies
