#pragma once
// Which share of a sweep this process runs, as a cluster launcher tells it through the environment:
// SLURM job arrays (SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT), SLURM tasks (SLURM_PROCID /
// SLURM_NTASKS), Open MPI (OMPI_COMM_WORLD_RANK / _SIZE) and PMI-based MPIs (PMI_RANK / PMI_SIZE).
// Point i belongs to shard i mod count.
#include <string>

namespace hetsim::sweep {

struct Shard {
  int index = 0;
  int count = 1;
  std::string source = "none";  ///< which environment variables said so
  bool owns(std::size_t point) const { return static_cast<int>(point % static_cast<std::size_t>(count)) == index; }
  bool sharded() const { return count > 1; }
};

/// Reads the launcher's environment; InputError if its variables are inconsistent.
Shard detect_shard();

}  // namespace hetsim::sweep
