#pragma once
// policies.activation_offload of a training scenario: the swap policy, its share (given, or the
// largest that hides under each layer's forward and fits in host memory), the bytes each stage's
// passes move, and the recompute it adds to each stage's backward.
#include <memory>

#include "sim/core/config.hpp"
#include "sim/training/activation_offload.hpp"

namespace hetsim::sim {

struct TrainingScenario;

/// Prices the swap and folds its recompute into sc.stages' backward_input. Needs sc.stages priced
/// and sc.offload read (its host bytes, when priced, count against host memory). Null for impl: none.
/// `training` is the training section (its recompute key must be none).
std::unique_ptr<training::ActivationSwapSetup> read_activation_offload(TrainingScenario& sc, const config::Node& cfg,
                                                                       const config::Node& training);

/// The device-side swap inputs for rank_memories, or none without a swap.
std::optional<training::MemoryInputs::Swap> swap_memory(const TrainingScenario& sc);

/// Checks the busiest node's host memory for the swapped activations of sc.memory; fills
/// sc.swap->host_bytes.
void check_swap_host_memory(TrainingScenario& sc, const config::Node& cfg);

}  // namespace hetsim::sim
