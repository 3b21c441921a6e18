// Balanced gating: every expert receives T·k/E routed rows in expectation (what auxiliary-loss
// and bias-based balancing aim for; the default).
#include "sim/core/registry.hpp"
#include "sim/serving/expert_gating.hpp"

namespace hetsim::policies {
namespace {

class BalancedGating final : public ExpertGating {
 public:
  explicit BalancedGating(const config::Node&) {}
  std::vector<double> shares(std::int64_t, std::uint64_t) const override { return {}; }
};

}  // namespace
HETSIM_REGISTER(ExpertGating, BalancedGating, "balanced", "every expert gets an equal share of the routed tokens");
}  // namespace hetsim::policies
