#pragma once
// Where an instance keeps each operand of its ops on a device. The model builders say what an op
// reads; placement says from where: weights in main memory or another tier of the device (LLM in
// a flash: its storage), activations in on-chip SRAM while they fit (NPU), the rest in the
// engine's home tier. The cost model then prices each operand at its tier.
#include <span>

#include "hw/device.hpp"
#include "sim/core/op.hpp"

namespace hetsim::hw {

struct OperandPlacement {
  TierIndex weights = kHomeTier;  ///< tier holding the weights (kHomeTier: the engine's home memory)

  /// Weights kept in the device's first tier of kind `kind`; InputError naming the device if it has none.
  static OperandPlacement weights_in(const Device& device, TierKind kind);
  /// Sets the operand tiers of `ops` for `device`.
  void apply(const Device& device, std::span<Op> ops) const;
  /// Whether apply changes nothing on `device` (everything in the engine's home tier).
  bool trivial(const Device& device) const { return weights == kHomeTier && !device.find_tier(TierKind::sram); }
};

}  // namespace hetsim::hw
