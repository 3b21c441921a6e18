#pragma once
// Where an instance keeps each operand of its ops on a device. The model builders say what an op
// reads; placement says from where: weights in main memory or another tier of the device (LLM in
// a flash: its storage), activations in on-chip SRAM while they fit (NPU), the rest in the
// engine's home tier. The cost model then prices each operand at its tier.
#include <optional>
#include <span>

#include "hw/device.hpp"
#include "sim/core/op.hpp"

namespace hetsim::hw {

/// LLM in a flash (Alizadeh et al., ACL 2024): only the MLP weights stay in flash; a token reads
/// the neurons it activates (a sparsity predictor picks them), minus those its last `window` tokens
/// used, which stay in DRAM; a neuron's rows of the MLP matrices are read in one chunk when bundled.
struct FlashStreaming {
  double active = 1;           ///< fraction of MLP neurons one token activates (1 - activation sparsity)
  int window = 0;              ///< tokens whose active neurons stay in DRAM (0: none)
  double chunk = 0;            ///< bytes of one read: a neuron's row of one matrix, or of all of them (bundled)
  double request_half = 0;     ///< the storage's read size at half its bandwidth (0: every size at full rate)
  /// PowerInfer-2's neuron cache: the `hot` fraction of neurons stays in DRAM and takes `hot_share`
  /// of all activations (activations follow a power law, so hot_share > hot); flash serves the rest.
  double hot = 0;
  double hot_share = 0;
  /// Probability that one token activates a given cold (uncached) neuron.
  double cold_active() const { return hot >= 1 ? 0.0 : active * (1 - hot_share) / (1 - hot); }
  /// Fraction of the cold neurons a step of `tokens` tokens reads: those any of them activates,
  /// 1 - (1 - p)^tokens (independent activations, conservative: real ones correlate), of which
  /// those not used by the window's tokens, (1 - p)^window (p = cold_active()).
  double cold_read_fraction(double tokens) const;
  /// Fraction of all MLP weights a step reads from flash: (1 - hot) x cold_read_fraction.
  double load_fraction(double tokens) const { return (1 - hot) * cold_read_fraction(tokens); }
  /// The storage's achieved fraction of its bandwidth when a fraction `f` of the (cold) neurons is read:
  /// neighbouring neurons merge into one read, runs of 1 / (1 - f) chunks on average, at
  /// run / (run + request_half). A step that reads almost every neuron reads sequentially.
  double read_efficiency(double f) const;
  /// MLP FLOPs: only the active neurons are computed, for each token.
  double compute_fraction() const { return active; }
};

struct OperandPlacement {
  TierIndex weights = kHomeTier;  ///< tier holding the weights (kHomeTier: the engine's home memory)
  /// LLM in a flash: the MLP weights in `weights` (flash) and streamed sparsely; the others in the
  /// engine's home memory. Absent: every weight in `weights`.
  std::optional<FlashStreaming> flash;

  /// Weights kept in the device's first tier of kind `kind`; InputError naming the device if it has none.
  static OperandPlacement weights_in(const Device& device, TierKind kind);
  /// Sets the operand tiers of `ops` for `device`; `tokens`: the step's tokens (flash streaming).
  void apply(const Device& device, std::span<Op> ops, double tokens = 1) const;
  /// Whether apply changes nothing on `device` (everything in the engine's home tier).
  bool trivial(const Device& device) const { return weights == kHomeTier && !device.find_tier(TierKind::sram); }
};

}  // namespace hetsim::hw
