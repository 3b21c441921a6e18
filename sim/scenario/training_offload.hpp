#pragma once
// policies.optimizer_offload of a training scenario: the policy, the checks that it can run on the
// cluster's nodes (host DRAM, an NVMe per device for zero_infinity, a CPU from the catalog), the
// host and SSD capacity it needs, and the CPU update's time per node, priced once at load.
#include <memory>

#include "sim/core/config.hpp"
#include "sim/training/optimizer_offload.hpp"

namespace hetsim::sim {

struct TrainingScenario;

/// Reads the policy and checks it against the plan; before the memory model runs, which needs to
/// know that the states leave the devices. Null for impl: none (no offload).
std::unique_ptr<training::OffloadSetup> read_optimizer_offload(const TrainingScenario& sc, const config::Node& cfg);

/// Prices the host side and checks host memory, CXL and SSD capacities. Needs sc.memory (with the
/// offload), sc.node and sc.nearest_ssd; fills sc.offload's shards, capacities and CPU times.
void price_optimizer_offload(TrainingScenario& sc, const config::Node& cfg);

}  // namespace hetsim::sim
