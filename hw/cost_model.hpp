#pragma once
// Roofline cost model (DESIGN.md "Cost model"):
//   time(op) = repeat * (max(FLOPs / (peak(dtype) * eff_c), max over tiers of bytes(tier) / (bw(tier) * eff_m))
//                        + kernels * launch_overhead)
// Each operand is priced at the tier it lives in (placement decides: hw/placement.hpp); tiers are
// separate resources, so traffic to different tiers overlaps. Collectives use the alpha-beta model
// of hw/collective_model over the scale-up link (and a scale-out level for groups spanning nodes).
#include <cmath>
#include <span>

#include "hw/collective_model.hpp"
#include "hw/device.hpp"
#include "sim/core/op.hpp"

namespace hetsim::hw {

/// The time of a kernel with compute time `compute` and memory time `memory`: their max (p = 0, the
/// roofline) or the blend (compute^p + memory^p)^(1/p) fitted to measurements (hw::Efficiency::blend).
inline double blend_roofline(double compute, double memory, double p) {
  if (p <= 0 || compute <= 0 || memory <= 0) return compute > memory ? compute : memory;
  if (p == 1) return compute + memory;
  if (p == 2) return std::sqrt(compute * compute + memory * memory);
  return std::pow(std::pow(compute, p) + std::pow(memory, p), 1.0 / p);
}

/// Which roofline term bounds an op on a device.
enum class Limiter { compute, memory, sram, link, storage };

/// The terms of one op instance (seconds, without launch overhead).
struct Breakdown {
  double compute = 0;  ///< FLOPs at the achieved compute rate
  double memory = 0;   ///< bytes in memory tiers (HBM, DRAM, PIM-internal) at their achieved bandwidth
  double sram = 0;     ///< on-chip bytes at the SRAM bandwidth
  double link = 0;     ///< collectives: alpha-beta time over the links
  double storage = 0;  ///< bytes in flash storage (LLM-in-a-flash placement)
  double blend = 0;    ///< how compute and memory combine (hw::Efficiency::blend; 0 = max)
  Limiter limiter = Limiter::compute;
  /// An op split over two engines of an SoC (hw::EngineSplit): the model engine's share of its work
  /// (1: all there, 0: all on the partner), and the joint time of the two parts with their
  /// synchronisation, which is then the bound; the terms above are the slower part's. -1: not split.
  double split_share = -1;
  double split = 0;
  double bound() const;
};

class CostModel {
 public:
  explicit CostModel(const Device& device);
  /// The model keeps a reference to its device: a temporary would dangle.
  explicit CostModel(Device&&) = delete;

  /// Scale-out level (NIC) for collectives whose group spans nodes.
  void set_scale_out(const LinkLevel& level) { scale_out_ = level; }

  /// Simulated time of all `repeat` instances of `op`, in seconds: each instance's kernels plus the
  /// device's launch gap, or the host's dispatch of its kernels (`host_launch` seconds per kernel,
  /// hw/serving_stack.hpp) when that is slower.
  double time(const Op& op, double host_launch = 0) const;
  /// The bound no implementation can beat: efficiencies 1, no launch overhead or link latency.
  double roofline_bound(const Op& op) const;
  /// The roofline terms of one instance of `op` and which one bounds it. `ideal` uses efficiencies
  /// of 1, no launch overhead and no link latency (the roofline bound itself).
  Breakdown breakdown(const Op& op, bool ideal = false) const;
  /// Which term bounds `op` here (for "is this decode step memory-bound on this device?").
  Limiter limiter(const Op& op) const { return breakdown(op).limiter; }
  /// Sum of `time` over a chain of ops run back to back on one engine.
  double chain_time(std::span<const Op> ops) const;

  const Device& device() const { return device_; }

 private:
  /// How one tier prices bytes (precomputed: breakdown runs for every op of every step).
  enum class TierTerm : std::uint8_t { memory, sram, storage };
  struct TierPricing {
    double bandwidth = 0;
    TierTerm term = TierTerm::memory;
  };
  static constexpr std::size_t kMaxTiers = 8;
  [[noreturn, gnu::cold, gnu::noinline]] void bad_tier(const Op& op, std::size_t tier) const;
  /// Whether `op` runs split over two engines of an SoC (Device::split).
  bool splits(const Op& op) const;
  /// How one instance of a split op runs: the model engine's share of it and the time of its parts
  /// on the two engines (or all of it on the faster one) with their launch gaps and the sync.
  struct SplitChoice {
    double share = 1;
    double time = 0;
  };
  SplitChoice split_choice(const Op& op) const;
  /// One instance of `share` of `op` on engine `engine` (its roofline and launch gap).
  double part_time(const Op& op, std::size_t engine, double share) const;
  /// The op's bytes at the full achieved bandwidth of their memory tiers (both engines together).
  double shared_memory_time(const Op& op) const;
  /// The terms of breakdown() without deciding the limiter (the hot path of time()).
  Breakdown terms(const Op& op, bool ideal) const;
  const Device& device_;
  std::array<TierPricing, kMaxTiers> tiers_{};
  std::size_t tier_count_ = 0;
  LinkLevel scale_out_{};
};

}  // namespace hetsim::hw
