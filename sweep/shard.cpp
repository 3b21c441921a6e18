#include "sweep/shard.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include "sim/core/config.hpp"
#include "sim/core/error.hpp"

namespace hetsim::sweep {
namespace {
bool env_int(const char* name, long& out) {
  const char* v = std::getenv(name);
  if (!v || !*v) return false;
  if (!config::detail::convert(std::string(v), out)) throw InputError(fmt::format("environment {}={}: expected an integer", name, v));
  return true;
}
}  // namespace

Shard detect_shard() {
  struct Pair {
    const char *index, *count;
  };
  // Array jobs first: inside an array task SLURM_PROCID is 0 of 1.
  for (const Pair p : {Pair{"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"}, Pair{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                       Pair{"PMI_RANK", "PMI_SIZE"}, Pair{"SLURM_PROCID", "SLURM_NTASKS"}}) {
    long index = 0, count = 0;
    if (!env_int(p.index, index)) continue;
    if (!env_int(p.count, count))
      throw InputError(fmt::format("environment sets {} but not {}; cannot shard the sweep", p.index, p.count));
    if (count < 1 || index < 0 || index >= count)
      throw InputError(fmt::format("environment {}={} with {}={}: expected 0 <= index < count", p.index, index, p.count, count));
    if (count == 1) continue;
    return Shard{static_cast<int>(index), static_cast<int>(count), fmt::format("{}/{}", p.index, p.count)};
  }
  return {};
}

}  // namespace hetsim::sweep
