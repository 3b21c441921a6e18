#pragma once
// How an MoE router spreads tokens over experts (policies.moe_gating), one file each in
// policies/moe_gating/: each expert's share of the routed rows. The step's cost follows it twice:
// how many distinct experts a batch touches (weights read), and, under expert parallelism, how
// many rows the busiest rank computes (models/moe.hpp, busiest_expert_rank).
#include <cstdint>
#include <vector>

#include "sim/core/config.hpp"

namespace hetsim::policies {

class ExpertGating {
 public:
  static constexpr const char* kKind = "moe_gating";
  virtual ~ExpertGating() = default;
  /// Each of `experts` experts' share of the routed rows, summing to 1; empty: balanced (1/E).
  virtual std::vector<double> shares(std::int64_t experts, std::uint64_t seed) const = 0;
};

}  // namespace hetsim::policies
