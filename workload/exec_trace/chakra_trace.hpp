#pragma once
// Reads one rank's MLCommons Chakra execution trace (the workload format ASTRA-sim consumes): a
// stream of protobuf messages, each preceded by its length as a varint32, the first a
// GlobalMetadata and every later one a Node (workload/exec_trace/chakra_et.proto).
//
// Mapping onto exec_trace::TraceOp:
//   COMP_NODE       compute; duration_micros, num_ops as FLOPs; class from the name (GEMM-like,
//                   attention-like, else elementwise). `is_cpu_op` nodes keep no GPU time: they
//                   become zero-duration ops that only pass their dependencies on.
//   COMM_COLL_NODE  collective; comm_type, comm_size (bytes per rank), pg_name (group)
//   COMM_SEND/RECV  send / recv; comm_dst / comm_src, comm_tag, comm_size
//   METADATA, MEM_* zero-duration pass-through ops
// deps = ctrl_deps and data_deps together (or data_deps only: ChakraOptions::ctrl_deps).
#include <cstdint>
#include <string>

#include "workload/exec_trace/exec_trace.hpp"

namespace hetsim::exec_trace {

/// Bounds on what one file may hold (a corrupt length must not allocate gigabytes).
inline constexpr std::uint32_t kMaxChakraMessageBytes = 64u << 20;
inline constexpr std::size_t kMaxChakraNodes = 5'000'000;

struct ChakraOptions {
  /// Whether ctrl_deps order ops (with data_deps). Chakra's own feeder, which ASTRA-sim runs,
  /// orders by data_deps only; traces converted from PyTorch put the enclosing (parent) op in
  /// ctrl_deps, which makes cycles with the data edges (599 in the feeder sample).
  bool ctrl_deps = true;
  /// Dependencies on node ids the file does not hold, or of a node on itself: an error (false), or
  /// dropped and counted in RankTrace::dropped_deps (true). Traces converted from PyTorch keep
  /// edges to parent ops (the profiler step, the thread root) that were cut out of the file.
  bool drop_unknown_deps = false;
};

/// Reads `path`. InputError (exit 2) naming the file and the node id or byte offset for a
/// truncated or malformed file, or (unless dropped) a dependency on a node the file does not hold.
RankTrace read_chakra_trace(const std::string& path, const ChakraOptions& options = {});

/// The rank in a file name "<anything>.<rank>.et", or -1.
int chakra_rank_from_name(const std::string& path);

/// Op class of a compute node from its name: aten matmul family and GEMM kernels -> gemm;
/// attention / sdpa / flash kernels -> attention_prefill; anything else elementwise.
OpClass classify_compute(const std::string& name);

}  // namespace hetsim::exec_trace
