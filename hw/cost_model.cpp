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

double Breakdown::bound() const { return std::max({compute, memory, sram, link, storage}); }

bool CostModel::activations_on_chip(const Op& op) const {
  return device_.kind == DeviceKind::npu && op.activation_bytes <= device_.sram_capacity;
}

Breakdown CostModel::breakdown(const Op& op, bool ideal) const {
  if (!device_.can_run(op.cls))
    throw InvariantError(fmt::format("device {} ({}) cannot run {} ops (op {}); policies must check can_run first",
                                     device_.name, device_.kind_name, to_string(op.cls), op.name));
  const Efficiency unit{};
  const Efficiency& e = ideal ? unit : device_.eff(op.cls);
  Breakdown b;
  if (op.cls == OpClass::collective) {
    const double bus = collective_bytes(op);
    const double hops = op.collective == Collective::all_reduce ? 2.0 * (op.group - 1) : op.group - 1.0;
    b.link = (bus + (bus > 0 ? e.memory_half : 0.0)) / (device_.scale_up.bandwidth * e.memory) +
             (ideal ? 0.0 : hops * device_.scale_up.latency);
    b.limiter = Limiter::link;
    return b;
  }
  const double peak = device_.peak(op.dtype);
  if (peak <= 0 && op.flops > 0)
    throw InputError(fmt::format("device {} has no {} peak in its catalog entry; op {} needs it", device_.name,
                                 to_string(op.dtype), op.name));
  // e(s) = e_max * s / (s + s_half)  =>  s / (peak * e(s)) = (s + s_half) / (peak * e_max).
  b.compute = op.flops > 0 ? (op.flops + e.compute_half) / (peak * e.compute) : 0.0;
  const bool on_chip = activations_on_chip(op);
  const double offchip = (weights_in_storage_ ? 0.0 : op.weight_bytes) + op.kv_bytes + (on_chip ? 0.0 : op.activation_bytes);
  // Weights streamed from flash overlap with compute and memory traffic (LLM in a flash, Apple 2023).
  if (weights_in_storage_ && op.weight_bytes > 0) b.storage = op.weight_bytes / (device_.storage_read_bandwidth * e.memory);
  const double bandwidth = device_.memory_bandwidth * device_.internal_bandwidth_multiple;
  b.memory = offchip > 0 ? (offchip + e.memory_half) / (bandwidth * e.memory) : 0.0;
  b.sram = on_chip && op.activation_bytes > 0 ? op.activation_bytes / device_.sram_bandwidth : 0.0;
  const double top = b.bound();
  b.limiter = top == b.storage && b.storage > 0 ? Limiter::storage
            : top == b.compute                  ? Limiter::compute
            : top == b.memory                   ? Limiter::memory
                                                : Limiter::sram;
  return b;
}

double CostModel::time(const Op& op) const {
  return op.repeat * (breakdown(op).bound() + op.kernels * device_.kernel_launch_overhead);
}

double CostModel::roofline_bound(const Op& op) const { return op.repeat * breakdown(op, true).bound(); }

double CostModel::step_time(std::span<const Op> ops) const {
  double total = 0;
  for (const Op& op : ops) total += time(op);
  return total;
}

}  // namespace hetsim::hw
