#pragma once
// Where the routed experts of an MoE model live across an expert-parallel group
// (policies.expert_placement), one file each in policies/expert_placement/: which rank holds which
// experts, and how many copies of each. The step waits for the busiest rank, so with skewed gating
// (policies.moe_gating) a placement that spreads the hot experts, or replicates them, shortens it.
#include <cstdint>
#include <vector>

#include "models/moe.hpp"
#include "sim/core/config.hpp"

namespace hetsim::policies {

class ExpertPlacement {
 public:
  static constexpr const char* kKind = "expert placement";
  virtual ~ExpertPlacement() = default;
  /// The slots of `ranks` ranks for `experts` experts with these shares of the routed rows (empty:
  /// balanced). Every expert gets at least one slot, every rank the same number of slots.
  virtual models::ExpertSlots place(const std::vector<double>& shares, std::int64_t experts, int ranks) const = 0;
};

}  // namespace hetsim::policies
