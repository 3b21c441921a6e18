#pragma once
// One rank's recorded execution, as plain data, whatever the file it came from (PyTorch profiler
// / Kineto JSON, MLCommons Chakra execution traces): the GPU work it ran (compute kernels with
// their measured durations and op class; collectives and point-to-point messages with their sizes
// and groups) and what each op waited for. The trace replayer (sim/engine/trace_replay_engine)
// runs these on a simulated platform: compute at the measured time or scaled by op class to other
// hardware, communication re-simulated over the routed, contended network.
#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/op.hpp"

namespace hetsim::exec_trace {

enum class TraceOpKind : std::uint8_t { compute, collective, send, recv };

struct TraceOp {
  std::uint64_t id = 0;  ///< unique within its rank (Chakra node id; Kineto: position)
  std::string name;      ///< kernel or op name as recorded
  TraceOpKind kind = TraceOpKind::compute;
  /// compute: what bounds it, for scaling to other hardware (gemm and attention by compute peak,
  /// elementwise by memory bandwidth); collective: OpClass::collective.
  OpClass cls = OpClass::elementwise;
  double duration = 0;  ///< seconds, as measured on the recorded hardware (communication: as waited)
  /// Stream the op ran on; ops of one stream run in order. -1: no stream order (only `deps`).
  int stream = -1;
  double start = 0;  ///< seconds since the rank's first recorded op (for reports; not a constraint)
  /// Earliest start the host allowed (kernel launch time since the rank's first op), or -1 for
  /// none: replaying with `host_issue` keeps the recorded CPU-side gaps.
  double issue = -1;
  Collective collective = Collective::none;  ///< collective kind
  /// collective: the largest buffer per rank, as the cost model and nccl-tests count a collective's
  /// size (all-gather: the gathered output; reduce-scatter: the full input; others: the input);
  /// send/recv: the message
  double bytes = 0;
  std::string group;              ///< process group name as recorded ("" = all ranks of the job)
  std::vector<int> group_ranks;   ///< global ranks of the group, when recorded (empty = unknown)
  int peer = -1;                  ///< send: destination rank; recv: source rank
  std::int64_t tag = 0;           ///< matches a send to its receive
  double flops = 0;               ///< when recorded (Chakra num_ops); 0 = unknown
  std::vector<std::uint64_t> deps;  ///< ids of ops of this rank that must finish first
};

struct RankTrace {
  int rank = 0;
  int world_size = 1;
  std::string source;  ///< the file read
  std::vector<TraceOp> ops;
  std::size_t dropped_deps = 0;  ///< dependencies on ops the file does not hold, dropped by the reader
};

}  // namespace hetsim::exec_trace
