#pragma once
// Reads pool key `offload` (sim/serving/op_offload.hpp): the policy's defaults, then the scenario's keys.
#include <memory>

#include "hw/device.hpp"
#include "models/model.hpp"
#include "sim/core/config.hpp"
#include "sim/serving/op_offload.hpp"

namespace hetsim::sim {

/// Pool key `offload` (absent: nullptr) for `model` on degree-`tp` instances of `gpu`: the policy's
/// defaults, then the scenario's keys device, count, ops, link, pipelining, sub_batches, kv_memory.
/// Key-path errors for a device that cannot run a placed op class or lacks its dtype.
std::shared_ptr<const serving::OffloadPlan> parse_offload(const config::Node& pool, const models::ModelSpec& model,
                                                          const hw::Device& gpu, int tp);

}  // namespace hetsim::sim
