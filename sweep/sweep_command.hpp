#pragma once
// `hetsim sweep`: expand a spec, run its points (locally in parallel, or this process's shard under
// SLURM / MPI), resume what a killed sweep left, merge shards, or emit a SLURM array script.
#include <string>

namespace hetsim::sweep {

struct SweepOptions {
  std::string spec;
  std::string out;
  unsigned jobs = 0;       ///< 0: all cores when unsharded, 1 per shard
  bool merge = false;
  bool emit_slurm = false;
  unsigned shards = 0;     ///< array size for --emit-slurm (0: one task per point, at most 1000)
  bool quiet = false;
  bool restart = false;    ///< discard the points (and results) already under --out first
};

/// Returns the process exit code (0 ok, 1 if some point failed); throws InputError on bad input,
/// including a resume whose inputs (spec, scenario, catalog files, traces) changed.
int run_sweep_command(const SweepOptions& options);

}  // namespace hetsim::sweep
