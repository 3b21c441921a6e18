#pragma once
// Turns a batch into the ops of one forward step of a decoder-only transformer under tensor
// parallelism (Megatron-style: column-parallel QKV and gate/up, row-parallel O and down, each
// row-parallel output all-reduced; vocab-parallel LM head with its logits all-gathered).
#include <vector>

#include "models/batch.hpp"
#include "models/model.hpp"
#include "sim/core/op.hpp"

namespace hetsim::models {

/// Appends to `out` (cleared first) the ops one device runs for `batch` at degree `tp`.
/// Per-layer ops carry repeat = num_hidden_layers.
void step_ops(const ModelSpec& model, const BatchShape& batch, int tp, std::vector<Op>& out);

}  // namespace hetsim::models
