#pragma once
// Turns a trace replay's records into results: ranks.csv (each rank's time split per iteration),
// summary.json (kind "replay"), the printed table and the Chrome/Perfetto timeline (a process per
// rank, a thread per stream). Plain data in, files out: no scenario and no SimGrid here.
#include <cstdint>
#include <string>
#include <vector>

#include "sim/metrics/replay_records.hpp"

namespace hetsim::sim {

/// What the results need to know about the run (built from the scenario by the caller).
struct ReplayRunInfo {
  std::string scenario, file, format, cluster, device, recorded_on;
  int ranks = 0, trace_files = 0;
  bool mirrored = false, host_issue = false;
  std::size_t trace_ops = 0, dropped_deps = 0;
  /// Recorded compute time x this on the cluster's device, per class (1: same hardware).
  double scale_gemm = 1, scale_attention = 1, scale_elementwise = 1;
  std::string resolved_yaml;
};

/// Means over ranks, per iteration.
struct ReplaySummary {
  double iteration_time = 0;
  double compute = 0, comm = 0, exposed_comm = 0, idle = 0;
  double max_exposed_comm = 0;
  std::size_t collectives = 0;      ///< matched collectives, all iterations
  double collective_bytes = 0;      ///< payload per member summed over matched collectives
  std::size_t p2p_messages = 0;
  double p2p_bytes = 0;
};

ReplaySummary summarize(const ReplayRunInfo& info, const ReplayRecords& records);

/// Writes ranks.csv, collectives.csv, summary.json, resolved.yaml and (with spans) timeline.json
/// into `dir` (an existing folder: the caller's private result folder).
void write_replay_results(const std::string& dir, const ReplayRunInfo& info, const ReplayRecords& records,
                          const ReplaySummary& summary);

/// The printed summary.
std::string replay_summary_table(const ReplayRunInfo& info, const ReplaySummary& summary);

}  // namespace hetsim::sim
