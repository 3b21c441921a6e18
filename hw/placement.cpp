#include "hw/placement.hpp"

#include <algorithm>
#include <cmath>

#include "sim/core/error.hpp"

namespace hetsim::hw {

OperandPlacement OperandPlacement::weights_in(const Device& device, TierKind kind) {
  const auto tier = device.find_tier(kind);
  if (!tier) throw InputError(fmt::format("device {} has no {} tier to keep the weights in", device.name, to_string(kind)));
  OperandPlacement p;
  p.weights = static_cast<TierIndex>(*tier);
  return p;
}

double FlashStreaming::cold_read_fraction(double tokens) const {
  const double idle = 1 - cold_active();
  return (1 - std::pow(idle, std::max(1.0, tokens))) * std::pow(idle, window);
}

double FlashStreaming::read_efficiency(double f) const {
  if (request_half <= 0 || f >= 1) return 1;
  const double run = chunk / (1 - f);
  return run / (run + request_half);
}

namespace {
/// The MLP's weight matrices (dense models: the graph builder's names), whose rows are neurons.
bool mlp_weights(const Op& op) {
  return op.name == "gate_up_proj" || op.name == "down_proj" || op.name == "fc1" || op.name == "fc2";
}
}  // namespace

void OperandPlacement::apply(const Device& device, std::span<Op> ops, double tokens) const {
  const auto sram = device.find_tier(TierKind::sram);
  const double read = flash ? flash->load_fraction(tokens) : 1.0;
  // Bytes priced at the achieved bandwidth; reads merge between neighbouring cold neurons (the hot
  // ones are laid out apart, so they leave no holes in the cold runs).
  const double load = flash ? read / flash->read_efficiency(flash->cold_read_fraction(tokens)) : 1.0;
  for (Op& op : ops) {
    op.weights.tier = weights;
    if (flash) {
      if (mlp_weights(op)) {
        op.weights.bytes *= load;
        op.flops *= flash->compute_fraction();
      } else {
        op.weights.tier = kHomeTier;  // attention, norms, embedding and head stay in DRAM
      }
    }
    // An NPU keeps an op's activations on chip when they fit; weights and KV always stream in.
    if (sram && op.activations.bytes <= device.tiers[*sram].capacity) op.activations.tier = static_cast<TierIndex>(*sram);
  }
}

}  // namespace hetsim::hw
