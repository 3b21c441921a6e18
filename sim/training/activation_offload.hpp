#pragma once
// Swapping a training job's activations to host memory, as policies (policies/training/activation/):
// after each decoder layer's forward some of its activations go to host memory over the node's
// links and come back before its backward; what does not go is dropped and recomputed. A policy
// names what goes and what is recomputed, per layer and token; the training engine runs the copies
// as contended flows beside the passes, and the scenario folds the recompute into the backward.
//
//   policies:
//     activation_offload: {impl: memo, fraction: auto}   # or a share in [0, 1]; host_limit: 1 TB
//
// The swapped share is the policy's to choose: `fraction: auto` takes the largest that both hides
// the copy under each layer's forward (at the link rate each device gets when all swap at once)
// and fits in host memory (DRAM, or host_limit per node, beside an optimizer offload's states).
#include <optional>

#include "sim/core/config.hpp"
#include "sim/training/stage_costs.hpp"
#include "sim/training/training_memory.hpp"

namespace hetsim::training {

/// What a policy does with one decoder layer's activations at swapped share `fraction`.
struct SwapShape {
  double host_bytes_per_token = 0;  ///< sent to host after the layer's forward, fetched before its backward
  /// Of the layer's forward, what its backward recomputes: the share of the non-attention work and
  /// the share of the attention core.
  double recompute_linear = 0, recompute_attention = 0;
};

class ActivationOffloadPolicy {
 public:
  static constexpr const char* kKind = "activation offload policy";
  virtual ~ActivationOffloadPolicy() = default;
  /// The layer's swap at `fraction` (in [0, 1]), from its activations per token.
  virtual SwapShape shape(const LayerActivationParts& parts, double fraction) const = 0;
  /// The share given, or none for auto.
  std::optional<double> fraction() const { return fraction_; }
  /// Host memory the swapped activations may take per node (beside an optimizer offload's); none:
  /// the DRAM tier's capacity.
  std::optional<double> host_limit() const { return host_limit_; }

 protected:
  /// Reads fraction (auto or a share) and host_limit.
  explicit ActivationOffloadPolicy(const config::Node& cfg);

 private:
  std::optional<double> fraction_;
  std::optional<double> host_limit_;
};

/// The largest share in [0, 1] under `policy`'s shape whose swap of one layer, `tokens` per device,
/// takes no longer than `layer_forward` seconds at `rate` bytes/s, and whose host bytes (`held_layers`
/// layers of `tokens` each, on `devices_per_node` devices) fit in `host_room` bytes per node. The
/// host bytes must grow with the share (or stay). InputError when even share 0 does not fit.
double auto_fraction(const ActivationOffloadPolicy& policy, const LayerActivationParts& parts, double tokens,
                     double layer_forward, double rate, double held_layers, double devices_per_node, double host_room);

/// The backward's extra work under `shape`: of `recompute` (the forward of the stage's layers, as
/// full recompute prices it), the linear share of its non-attention part and the attention share
/// of its attention core.
PassCost swap_recompute(const PassCost& recompute, const SwapShape& shape);

/// An activation offload as the scenario priced it, for the engine and the results.
struct ActivationSwapSetup {
  std::string name;             ///< policies.activation_offload.impl
  double fraction = 0;          ///< the swapped share, as given or chosen
  bool automatic = false;       ///< chosen by fraction: auto
  SwapShape shape;
  std::vector<double> bytes;    ///< per model stage: bytes one device sends to host per micro-batch (and fetches back)
  double host_bytes = 0;        ///< the busiest node's host memory for swapped activations at the peak
  double host_capacity = 0;     ///< what it may take (host_limit or DRAM, less an optimizer offload's)
  double rate = 0;              ///< bytes/s per device between device and host, all swapping at once
  std::vector<RankMemory> without;  ///< per pipeline rank: one device's memory without the swap (recompute none)
};

}  // namespace hetsim::training
