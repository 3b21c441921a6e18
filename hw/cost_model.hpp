#pragma once
// Roofline cost model (DESIGN.md "Cost model"):
//   time(op) = repeat * (max(FLOPs / (peak(dtype) * eff_c), bytes / (bw * eff_m)) + kernels * launch_overhead)
// Collectives over the scale-up link use the ring algorithm's bus traffic:
//   all-reduce moves 2(k-1)/k of the payload per rank in 2(k-1) latency-bound hops; all-gather half that.
#include <span>

#include "hw/device.hpp"
#include "sim/core/op.hpp"

namespace hetsim::hw {

class CostModel {
 public:
  explicit CostModel(const Device& device) : device_(device) {}

  /// Simulated time of all `repeat` instances of `op`, in seconds.
  double time(const Op& op) const;
  /// The bound no implementation can beat: efficiencies 1, no launch overhead or link latency.
  double roofline_bound(const Op& op) const;
  /// Sum of `time` over a step's ops.
  double step_time(std::span<const Op> ops) const;

  const Device& device() const { return device_; }

 private:
  double collective_bytes(const Op& op) const;
  const Device& device_;
};

}  // namespace hetsim::hw
