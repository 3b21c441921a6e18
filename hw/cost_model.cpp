#include "hw/cost_model.hpp"

#include <algorithm>

#include "sim/core/error.hpp"

namespace hetsim::hw {

double CostModel::collective_bytes(const Op& op) const {
  const double k = op.group;
  if (k <= 1) return 0;
  switch (op.collective) {
    case Collective::all_reduce: return 2.0 * (k - 1) / k * op.comm_bytes;
    case Collective::all_gather: return (k - 1) / k * op.comm_bytes;
    case Collective::none: return 0;
  }
  return 0;
}

double CostModel::time(const Op& op) const {
  const Efficiency& e = device_.eff(op.cls);
  double one = 0;
  if (op.cls == OpClass::collective) {
    const double hops = op.collective == Collective::all_reduce ? 2.0 * (op.group - 1) : op.group - 1.0;
    const double bus = collective_bytes(op);
    one = (bus + (bus > 0 ? e.memory_half : 0.0)) / (device_.scale_up.bandwidth * e.memory) + hops * device_.scale_up.latency;
  } else {
    const double peak = device_.peak(op.dtype);
    if (peak <= 0 && op.flops > 0)
      throw InputError(fmt::format("device {} has no {} peak in its catalog entry; op {} needs it", device_.name,
                                   to_string(op.dtype), op.name));
    // e(s) = e_max * s / (s + s_half)  =>  s / (peak * e(s)) = (s + s_half) / (peak * e_max).
    const double compute = op.flops > 0 ? (op.flops + e.compute_half) / (peak * e.compute) : 0.0;
    const double bytes = op.bytes();
    const double memory = bytes > 0 ? (bytes + e.memory_half) / (device_.memory_bandwidth * e.memory) : 0.0;
    one = std::max(compute, memory);
  }
  return op.repeat * (one + op.kernels * device_.kernel_launch_overhead);
}

double CostModel::roofline_bound(const Op& op) const {
  if (op.cls == OpClass::collective) return op.repeat * collective_bytes(op) / device_.scale_up.bandwidth;
  const double peak = device_.peak(op.dtype);
  const double compute = op.flops > 0 ? op.flops / peak : 0.0;
  return op.repeat * std::max(compute, op.bytes() / device_.memory_bandwidth);
}

double CostModel::step_time(std::span<const Op> ops) const {
  double total = 0;
  for (const Op& op : ops) total += time(op);
  return total;
}

}  // namespace hetsim::hw
