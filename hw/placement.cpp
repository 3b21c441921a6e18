#include "hw/placement.hpp"

#include "sim/core/error.hpp"

namespace hetsim::hw {

OperandPlacement OperandPlacement::weights_in(const Device& device, TierKind kind) {
  const auto tier = device.find_tier(kind);
  if (!tier) throw InputError(fmt::format("device {} has no {} tier to keep the weights in", device.name, to_string(kind)));
  OperandPlacement p;
  p.weights = static_cast<TierIndex>(*tier);
  return p;
}

void OperandPlacement::apply(const Device& device, std::span<Op> ops) const {
  const auto sram = device.find_tier(TierKind::sram);
  for (Op& op : ops) {
    op.weights.tier = weights;
    // An NPU keeps an op's activations on chip when they fit; weights and KV always stream in.
    if (sram && op.activations.bytes <= device.tiers[*sram].capacity) op.activations.tier = static_cast<TierIndex>(*sram);
  }
}

}  // namespace hetsim::hw
