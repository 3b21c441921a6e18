// vLLM's linear expert placement: rank r holds experts r·E/ep … (r+1)·E/ep − 1, one copy each, whatever
// their load (the placement when policies.expert_placement is not given).
#include "sim/core/registry.hpp"
#include "sim/serving/expert_placement.hpp"

namespace hetsim::policies {
namespace {

class LinearPlacement final : public ExpertPlacement {
 public:
  explicit LinearPlacement(const config::Node&) {}
  models::ExpertSlots place(const std::vector<double>&, std::int64_t experts, int ranks) const override {
    models::ExpertSlots p;
    p.ranks = ranks;
    p.rank_slots.resize(static_cast<std::size_t>(ranks));
    const std::int64_t per_rank = experts / ranks;
    for (std::int64_t e = 0; e < experts; ++e) p.rank_slots[static_cast<std::size_t>(e / per_rank)].push_back({e, 1.0});
    return p;
  }
};

}  // namespace
HETSIM_REGISTER(ExpertPlacement, LinearPlacement, "linear", "E / ep consecutive experts per rank, one copy each (vLLM)");
}  // namespace hetsim::policies
