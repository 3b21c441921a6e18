#pragma once
// The ops of one mixture-of-experts MLP on one device (models/moe.hpp describes the model side).
#include <vector>

#include "models/model.hpp"
#include "sim/core/op.hpp"

namespace hetsim::models {

/// Appends the MoE MLP of `tokens` tokens on one device of a tensor-parallel degree `tp` instance,
/// each op repeated `repeat` times (the MoE layers): the router, the routed experts' grouped GEMMs
/// (vLLM's fused_moe: gate_up, SiLU-mul, down over the T·k routed rows, every expert's width split
/// over the tp ranks), the shared experts, and the weighted combine of the k outputs. The routed
/// GEMMs read the weights of the experts the tokens touch under balanced gating
/// (balanced_experts_touched), so a small decode batch reads few experts and a large one all.
void moe_mlp_ops(const ModelSpec& m, double tokens, int tp, double repeat, std::vector<Op>& out);

}  // namespace hetsim::models
