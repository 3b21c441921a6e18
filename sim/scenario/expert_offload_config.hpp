#pragma once
// Reads serving key `expert_offload` (sim/serving/expert_offload.hpp).
#include <memory>

#include "hw/device.hpp"
#include "models/model.hpp"
#include "sim/core/config.hpp"
#include "sim/serving/expert_offload.hpp"

namespace hetsim::sim {

/// serving.expert_offload {cached_experts, link} (absent: nullptr) for `model` on `gpu`, whose host
/// link carries the loads unless `link` is given. Key-path errors for a dense model or a cache
/// larger than the experts.
std::shared_ptr<const serving::ExpertOffload> parse_expert_offload(const config::Node& serving, const models::ModelSpec& model,
                                                                   const hw::Device& gpu);

}  // namespace hetsim::sim
