#pragma once
// Roofline cost model (DESIGN.md "Cost model"):
//   time(op) = repeat * (max(FLOPs / (peak(dtype) * eff_c), bytes / (bw * eff_m)) + kernels * launch_overhead)
// Collectives over the scale-up link use the ring algorithm's bus traffic:
//   all-reduce moves 2(k-1)/k of the payload per rank in 2(k-1) latency-bound hops; all-gather half that.
#include <span>

#include "hw/device.hpp"
#include "sim/core/op.hpp"

namespace hetsim::hw {

/// Which roofline term bounds an op on a device.
enum class Limiter { compute, memory, sram, link, storage };

/// The terms of one op instance (seconds, without launch overhead).
struct Breakdown {
  double compute = 0;  ///< FLOPs at the achieved compute rate
  double memory = 0;   ///< off-chip bytes at the achieved memory bandwidth (PIM: internal bandwidth)
  double sram = 0;     ///< NPU: on-chip bytes at the SRAM bandwidth
  double link = 0;     ///< collectives: bus bytes over the scale-up link, plus hop latencies
  double storage = 0;  ///< weights streamed from flash storage (LLM-in-a-flash placement)
  Limiter limiter = Limiter::compute;
  double bound() const;
};

class CostModel {
 public:
  /// `weights_in_storage`: the weights live in the device's flash storage and stream in every
  /// step (they do not occupy device memory).
  explicit CostModel(const Device& device, bool weights_in_storage = false)
      : device_(device), weights_in_storage_(weights_in_storage) {}

  /// Simulated time of all `repeat` instances of `op`, in seconds.
  double time(const Op& op) const;
  /// The bound no implementation can beat: efficiencies 1, no launch overhead or link latency.
  double roofline_bound(const Op& op) const;
  /// The roofline terms of one instance of `op` and which one bounds it. `ideal` uses efficiencies
  /// of 1, no launch overhead and no link latency (the roofline bound itself).
  Breakdown breakdown(const Op& op, bool ideal = false) const;
  /// Which term bounds `op` here (for "is this decode step memory-bound on this device?").
  Limiter limiter(const Op& op) const { return breakdown(op).limiter; }
  /// Sum of `time` over a step's ops.
  double step_time(std::span<const Op> ops) const;

  const Device& device() const { return device_; }

 private:
  double collective_bytes(const Op& op) const;
  /// NPU: whether the op's activations fit the on-chip SRAM (weights and KV always stream in).
  bool activations_on_chip(const Op& op) const;
  const Device& device_;
  bool weights_in_storage_ = false;
};

}  // namespace hetsim::hw
