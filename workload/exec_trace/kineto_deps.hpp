#pragma once
// Cross-stream dependencies of a Kineto trace's GPU ops, recovered from CPU-GPU synchronisation:
// a host sync (cudaDeviceSynchronize, cudaStreamSynchronize, cudaEventSynchronize) and a GPU-side
// stream wait (cudaStreamWaitEvent). Ops of one stream are ordered by the stream, so no edges are
// made between them.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hetsim::exec_trace::kineto {

/// A GPU op as the dependency pass sees it: its stream and when the host launched it (µs, any
/// common origin). For an op without a recorded launch, its GPU start (an upper bound of the launch).
struct LaunchedOp {
  int stream = 0;
  double launch = 0;
};

/// A synchronisation. A host sync: the host waited, from `capture` on, for the GPU work launched
/// before `capture` on `waited_streams` (empty: every stream); ops launched from `release` on (the
/// call's end) come after it, on every stream. A stream wait: stream `consumer` waits for the work
/// launched on the single waited stream before `capture` (the cudaEventRecord); ops launched on
/// `consumer` from `release` (the cudaStreamWaitEvent call) on come after it.
struct SyncPoint {
  double capture = 0;
  double release = 0;
  std::vector<int> waited_streams;  ///< empty: all streams (a device sync or an unknown stream)
  int consumer = -1;                ///< -1: a host sync (every stream); else the waiting stream
};

/// For each op (by index into `ops`), the indices of the ops it must wait for: after each sync
/// point, the first op launched on each affected stream depends on the last op launched before it
/// on each waited stream (the rest of the stream follows by stream order), which keeps the number
/// of edges at most streams x streams per sync. No op depends on its own stream.
std::vector<std::vector<std::size_t>> sync_dependencies(const std::vector<LaunchedOp>& ops,
                                                        const std::vector<SyncPoint>& syncs);

}  // namespace hetsim::exec_trace::kineto
