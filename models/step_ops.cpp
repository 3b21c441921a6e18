#include "models/step_ops.hpp"

#include "models/graph_builder.hpp"

namespace hetsim::models {

void step_ops(const ModelSpec& model, const BatchShape& batch, const ParallelPlan& plan, std::vector<Op>& out) {
  builder_for(model).serving_step(model, batch, plan, out);
}

}  // namespace hetsim::models
