#pragma once
// policies.optimizer_offload of a training scenario: the policy, the checks that it can run on the
// cluster's nodes (host DRAM, an NVMe per device for zero_infinity, a CPU from the catalog), the
// host and SSD capacity it needs, and the CPU update's time per node, priced once at load.
#include <memory>
#include <optional>

#include "hw/memory_tier.hpp"

#include "sim/core/config.hpp"
#include "sim/training/optimizer_offload.hpp"

namespace hetsim::sim {

struct TrainingScenario;

/// The host DRAM a policy may use per node: `limit` (its key `key` in `cfg`), at most the DRAM tier's
/// capacity (an error naming the key otherwise), or the whole tier without one.
double host_dram_limit(const config::Node& cfg, const char* key, std::optional<double> limit, const hw::MemoryTier& dram);

/// Reads the policy and checks it against the plan; before the memory model runs, which needs to
/// know that the states leave the devices. Null for impl: none (no offload).
std::unique_ptr<training::OffloadSetup> read_optimizer_offload(const TrainingScenario& sc, const config::Node& cfg);

/// Prices the host side and checks host memory, CXL and SSD capacities. Needs sc.memory (with the
/// offload), sc.node and sc.nearest_ssd; fills sc.offload's shards, capacities and CPU times.
void price_optimizer_offload(TrainingScenario& sc, const config::Node& cfg);

}  // namespace hetsim::sim
