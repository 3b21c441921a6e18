#pragma once
// The ops of one serving step, from the graph builder registered for the model's model_type
// (models/graph_builder.hpp; dense Llama/Qwen2 in models/dense_transformer.cpp).
#include <vector>

#include "models/batch.hpp"
#include "models/model.hpp"
#include "sim/core/op.hpp"
#include "sim/core/parallel_plan.hpp"

namespace hetsim::models {

/// Appends to `out` (cleared first) the ops one device runs for `batch` under `plan`.
/// Per-layer ops carry repeat = num_hidden_layers.
void step_ops(const ModelSpec& model, const BatchShape& batch, const ParallelPlan& plan, std::vector<Op>& out);
/// Same, for tensor parallelism of degree `tp` only.
inline void step_ops(const ModelSpec& model, const BatchShape& batch, int tp, std::vector<Op>& out) {
  ParallelPlan plan;
  plan.tp = tp;
  step_ops(model, batch, plan, out);
}

}  // namespace hetsim::models
