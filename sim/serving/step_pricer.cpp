#include "sim/serving/step_pricer.hpp"

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace hetsim::serving {

namespace {
bool context_dependent(const Op& op) { return op.cls == OpClass::attention_prefill || op.cls == OpClass::attention_decode; }
}  // namespace

StepPricer::StepPricer(const models::ModelSpec& model, const ParallelPlan& plan, const hw::Device& device,
                       const hw::OperandPlacement& placement)
    : model_(model),
      plan_(plan),
      device_(device),
      placement_(placement),
      trivial_placement_(placement.trivial(device)),
      builder_(models::builder_for(model)),
      cost_(device) {}

void StepPricer::place(std::vector<Op>& ops) const {
  if (!trivial_placement_) placement_.apply(device_, ops);
}

const StepPricer::Entry& StepPricer::entry(const models::BatchShape& batch) {
  const auto key = (static_cast<std::uint64_t>(batch.tokens()) << 32) | static_cast<std::uint64_t>(batch.logit_tokens);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  builder_.serving_step(model_, batch, plan_, ops_);
  place(ops_);
  Entry e;
  bool seen = false, after = false;
  for (const Op& op : ops_) {
    if (context_dependent(op)) {
      if (after)
        throw InvariantError(fmt::format("graph builder for {}: attention ops are not contiguous in the serving step", model_.model_type));
      if (!seen) e.attention_at = e.times.size();
      seen = true;
      continue;
    }
    after = seen;
    e.times.push_back(cost_.time(op));
  }
  if (!seen) e.attention_at = e.times.size();
  return cache_.emplace(key, std::move(e)).first->second;
}

double StepPricer::price(const models::BatchShape& batch) {
  if (batch.empty()) return 0;
  const Entry& e = entry(batch);
  ops_.clear();
  builder_.serving_attention(model_, batch, plan_, ops_);
  place(ops_);
  // The same additions, in the same order, as CostModel::chain_time over the whole step.
  double total = 0;
  for (std::size_t i = 0; i < e.attention_at; ++i) total += e.times[i];
  for (const Op& op : ops_) total += cost_.time(op);
  for (std::size_t i = e.attention_at; i < e.times.size(); ++i) total += e.times[i];
  return total;
}

}  // namespace hetsim::serving
