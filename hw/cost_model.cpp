#include "hw/cost_model.hpp"

#include <algorithm>

#include "sim/core/error.hpp"

namespace hetsim::hw {

double Breakdown::bound() const { return std::max({blend_roofline(compute, memory, blend), sram, link, storage}); }

void CostModel::bad_tier(const Op& op, std::size_t tier) const {
  throw InvariantError(fmt::format("op {}: operand placed in tier {} of device {}, which has {}", op.name, tier,
                                   device_.name, device_.tiers.size()));
}

CostModel::CostModel(const Device& device) : device_(device) {
  tier_count_ = std::min(device.tiers.size(), kMaxTiers);
  for (std::size_t t = 0; t < tier_count_; ++t) {
    const MemoryTier& tier = device.tiers[t];
    tiers_[t].bandwidth = tier.read_bandwidth;
    tiers_[t].term = tier.kind == TierKind::sram ? TierTerm::sram
                   : tier.kind == TierKind::flash || tier.kind == TierKind::ssd || tier.kind == TierKind::csd ? TierTerm::storage
                                                                                                               : TierTerm::memory;
  }
}

Breakdown CostModel::breakdown(const Op& op, bool ideal) const {
  Breakdown b = terms(op, ideal);
  if (op.cls == OpClass::collective) {
    b.limiter = Limiter::link;
    return b;
  }
  // With a blended roofline neither term equals the bound: the larger of the two is the limiter.
  const double top = std::max({b.compute, b.memory, b.sram, b.storage});
  b.limiter = top == b.storage && b.storage > 0 ? Limiter::storage
            : top == b.compute                  ? Limiter::compute
            : top == b.memory                   ? Limiter::memory
                                                : Limiter::sram;
  return b;
}

Breakdown CostModel::terms(const Op& op, bool ideal) const {
  const std::size_t engine_index = op.engine == kModelEngine ? device_.engine : op.engine;
  if (engine_index >= device_.engines.size())
    throw InvariantError(fmt::format("op {} placed on engine {} of device {}, which has {}", op.name, engine_index,
                                     device_.name, device_.engines.size()));
  const ComputeEngine& engine = device_.engines[engine_index];
  if (!engine.can_run(op.cls))
    throw InvariantError(fmt::format("device {} ({}) cannot run {} ops (op {}); policies must check can_run first",
                                     device_.name, device_.kind_name, to_string(op.cls), op.name));
  static const Efficiency unit{};  // efficiencies of 1: the roofline itself
  const Efficiency& e = ideal ? unit : device_.eff(op);
  Breakdown b;
  if (op.cls == OpClass::collective) {
    const LinkLevel up{device_.scale_up.bandwidth, device_.scale_up.latency, e.memory, e.memory_half};
    if (op.group_nodes > 1 && scale_out_.bandwidth <= 0)
      throw InvariantError(fmt::format("collective {} spans {} nodes but device {} has no scale-out level", op.name,
                                       op.group_nodes, device_.name));
    // A collective measured on this hardware at this group size is priced by its measurement.
    if (const MeasuredCollective* m = ideal ? nullptr : device_.measured(op.collective, op.group, op.group_nodes))
      b.link = m->time(op.comm_bytes);
    else
      b.link = collective_time(op.collective, op.algorithm, op.comm_bytes, op.group, op.group_nodes, up, scale_out_, ideal);
    return b;
  }
  const double peak = engine.peak(op.dtype);
  if (peak <= 0 && op.flops > 0)
    throw InputError(fmt::format("device {} has no {} peak in its catalog entry; op {} needs it", device_.name,
                                 to_string(op.dtype), op.name));
  // e(s) = e_max * s / (s + s_half)  =>  s / (peak * e(s)) = (s + s_half) / (peak * e_max).
  const double half = e.half_per_unit && op.units > 0 ? e.compute_half * op.units : e.compute_half;
  b.compute = op.flops > 0 ? (op.flops + half) / (peak * e.compute) : 0.0;
  b.blend = e.blend;

  // Bytes per tier; each tier is its own resource. The fitted half-size belongs to the engine's
  // home tier (it was measured there); on-chip SRAM is compiler-scheduled and runs at its peak.
  const std::size_t home = engine.home_tier;
  auto check = [&](std::size_t t) {
    if (t >= tier_count_) [[unlikely]]
      bad_tier(op, t);
  };
  auto price = [&](std::size_t t, double bytes) {
    const TierPricing& p = tiers_[t];
    switch (p.term) {
      case TierTerm::sram: b.sram = std::max(b.sram, bytes / p.bandwidth); break;
      case TierTerm::storage: b.storage = std::max(b.storage, bytes / (p.bandwidth * e.memory)); break;
      case TierTerm::memory:
        b.memory = std::max(b.memory, (bytes + (t == home ? e.memory_half : 0.0)) / (p.bandwidth * e.memory));
    }
  };
  if (op.weights.tier == op.activations.tier && op.activations.tier == op.kv.tier) {
    // Common case (every operand in one tier): one term.
    const double total = op.weights.bytes + op.activations.bytes + op.kv.bytes;
    const std::size_t t = op.kv.tier == kHomeTier ? home : op.kv.tier;
    check(t);
    if (total > 0) price(t, total);
  } else {
    std::array<double, kMaxTiers> bytes{};
    for (const Operand* o : {&op.weights, &op.activations, &op.kv}) {
      if (o->bytes <= 0) continue;
      const std::size_t t = o->tier == kHomeTier ? home : o->tier;
      check(t);
      bytes[t] += o->bytes;
    }
    for (std::size_t t = 0; t < tier_count_; ++t)
      if (bytes[t] > 0) price(t, bytes[t]);
  }
  return b;
}

double CostModel::time(const Op& op, double host_launch) const {
  const double gpu = terms(op, false).bound() + op.kernels * device_.kernel_launch_overhead;
  const double host = op.kernels * host_launch;
  return op.repeat * (gpu > host ? gpu : host);
}

double CostModel::roofline_bound(const Op& op) const { return op.repeat * terms(op, true).bound(); }

double CostModel::chain_time(std::span<const Op> ops) const {
  double total = 0;
  for (const Op& op : ops) total += time(op);
  return total;
}

}  // namespace hetsim::hw
