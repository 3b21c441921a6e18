#include "hw/cost_model.hpp"

#include <algorithm>

#include "sim/core/error.hpp"

namespace hetsim::hw {

double Breakdown::bound() const {
  if (split_share >= 0) return split;
  return std::max({blend_roofline(compute, memory, blend), sram, link, storage});
}

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
  Breakdown b;
  if (!ideal && splits(op)) {
    // The slower part's terms (the one the split waits for), and the joint time as the bound.
    const SplitChoice c = split_choice(op);
    const bool partner_slower = part_time(op, device_.split->with, 1 - c.share) > part_time(op, device_.engine, c.share);
    Op part = op;
    part.engine = static_cast<EngineIndex>(partner_slower ? device_.split->with : device_.engine);
    part.scale_work(partner_slower ? 1 - c.share : c.share);
    b = terms(part, false);
    b.split_share = c.share;
    b.split = c.time - op.kernels * device_.kernel_launch_overhead;
  } else {
    b = terms(op, ideal);
  }
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
  const Efficiency& e = ideal ? unit : device_.eff(op, engine);
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
      b.link = collective_time(op.collective, op.algorithm, op.comm_bytes, op.group, op.group_nodes, up, scale_out_, ideal,
                               op.routed);
    return b;
  }
  const double peak = engine.peak(op.dtype);
  if (peak <= 0 && op.flops > 0)
    throw InputError(fmt::format("device {} has no {} peak in its catalog entry; op {} needs it", device_.name,
                                 to_string(op.dtype), op.name));
  // e(s) = e_max * s / (s + s_half)  =>  s / (peak * e(s)) = (s + s_half) / (peak * e_max).
  const double half = e.half_per_unit && op.units > 0 ? e.compute_half * op.units : e.compute_half;
  // A GEMM in a dtype whose tensor cores reach less of their peak than 16-bit ones do of theirs
  // (H100 FP8: 70.9% against 80.3%) runs its 16-bit-measured curve at that ratio.
  const double ceiling = op.cls == OpClass::gemm && !ideal ? device_.gemm_dtype_ceiling[static_cast<std::size_t>(op.dtype)] : 1.0;
  b.compute = op.flops > 0 ? (op.flops + half) / (peak * e.compute * ceiling) : 0.0;
  b.blend = e.blend;

  // Bytes per tier; each tier is its own resource. The fitted half-size belongs to the engine's
  // home tier (it was measured there); on-chip SRAM is compiler-scheduled and runs at its peak.
  const std::size_t home = engine.home_tier;
  auto check = [&](std::size_t t) {
    if (t >= tier_count_) [[unlikely]]
      bad_tier(op, t);
  };
  // An engine that cannot saturate a memory tier by itself (an SoC's GPU or NPU) streams at its own ceiling.
  const double engine_cap = engine.memory_bandwidth;  // 0: none
  auto price = [&](std::size_t t, double bytes) {
    const TierPricing& p = tiers_[t];
    switch (p.term) {
      case TierTerm::sram: b.sram = std::max(b.sram, bytes / p.bandwidth); break;
      case TierTerm::storage: b.storage = std::max(b.storage, bytes / (p.bandwidth * e.memory)); break;
      case TierTerm::memory: {
        const double bandwidth = engine_cap > 0 && engine_cap < p.bandwidth ? engine_cap : p.bandwidth;
        b.memory = std::max(b.memory, (bytes + (t == home ? e.memory_half : 0.0)) / (bandwidth * e.memory));
      }
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
  const double gpu = splits(op) ? split_choice(op).time : terms(op, false).bound() + op.kernels * device_.kernel_launch_overhead;
  const double host = op.kernels * host_launch;
  return op.repeat * (gpu > host ? gpu : host);
}

bool CostModel::splits(const Op& op) const {
  const auto& s = device_.split;
  return s && op.engine == kModelEngine && s->ops[static_cast<std::size_t>(op.cls)] && s->with != device_.engine;
}

double CostModel::part_time(const Op& op, std::size_t engine, double share) const {
  if (share <= 0) return 0;
  Op part = op;
  part.engine = static_cast<EngineIndex>(engine);
  part.scale_work(share);
  return terms(part, false).bound() + part.kernels * device_.kernel_launch_overhead;
}

double CostModel::shared_memory_time(const Op& op) const {
  // Both engines stream from the same tiers: together they move the op's bytes no faster than the
  // tier itself, at the device's achieved fraction of it.
  std::array<double, kMaxTiers> bytes{};
  const std::size_t home = device_.compute().home_tier;
  for (const Operand* o : {&op.weights, &op.activations, &op.kv})
    if (o->bytes > 0) bytes[std::min(o->tier == kHomeTier ? home : o->tier, kMaxTiers - 1)] += o->bytes;
  double t = 0;
  for (std::size_t i = 0; i < tier_count_; ++i)
    if (bytes[i] > 0 && tiers_[i].term == TierTerm::memory)
      t = std::max(t, bytes[i] / (tiers_[i].bandwidth * device_.eff(op.cls).memory));
  return t;
}

CostModel::SplitChoice CostModel::split_choice(const Op& op) const {
  const EngineSplit& s = *device_.split;
  const std::size_t own = device_.engine;
  const double shared = shared_memory_time(op);
  auto joint = [&](double share) -> SplitChoice {
    return {share, std::max({part_time(op, own, share), part_time(op, s.with, 1 - share), shared}) + s.sync};
  };
  if (s.share >= 0) return joint(s.share);
  // Auto: the share at which both parts finish together (the model engine's part grows with its
  // share, the partner's shrinks), found by bisection since measured curves make the times nonlinear;
  // or the whole op on one engine (on the partner it still pays the hand-over) when that is faster.
  double lo = 0, hi = 1;
  for (int i = 0; i < 40; ++i) {
    const double mid = 0.5 * (lo + hi);
    (part_time(op, own, mid) < part_time(op, s.with, 1 - mid) ? lo : hi) = mid;
  }
  SplitChoice best{1, part_time(op, own, 1)};
  for (const SplitChoice c : {SplitChoice{0, part_time(op, s.with, 1) + s.sync}, joint(lo), joint(hi)})
    if (c.time < best.time) best = c;
  return best;
}

double CostModel::roofline_bound(const Op& op) const { return op.repeat * terms(op, true).bound(); }

double CostModel::chain_time(std::span<const Op> ops) const {
  double total = 0;
  for (const Op& op : ops) total += time(op);
  return total;
}

}  // namespace hetsim::hw
