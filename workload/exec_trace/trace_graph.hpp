#pragma once
// A rank trace's dependency graph by op position: what each op waits for (its deps, plus the
// previous op of its stream when it has one) and whom it releases. Building it checks that every
// op can run: a dependency on an op the trace does not hold, or a cycle, is an InputError naming
// the file and op. Built once, when a replay scenario loads (so `hetsim validate` catches it), and
// kept in the scenario for the replayer; mirrored ranks share their source's graph.
#include <cstdint>
#include <vector>

#include "workload/exec_trace/exec_trace.hpp"

namespace hetsim::exec_trace {

struct TraceGraph {
  std::vector<std::vector<std::uint32_t>> succ;  ///< ops released when this one ends
  std::vector<std::uint32_t> indegree;           ///< ops this one waits for
};

TraceGraph build_trace_graph(const RankTrace& trace);

}  // namespace hetsim::exec_trace
