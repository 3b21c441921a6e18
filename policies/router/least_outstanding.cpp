// Least-outstanding-requests routing: the replica with the fewest unfinished requests; ties go to
// the lowest index so runs are deterministic.
#include "sim/serving/router.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class LeastOutstanding final : public Router {
 public:
  explicit LeastOutstanding(const config::Node&) {}
  std::size_t route(const Request&, std::span<const ReplicaLoad> replicas) override { return least_outstanding(replicas); }
  /// The same choice from each fitting class's least (outstanding, index): the smallest pair is the
  /// emptiest replica, lowest index first, as route() picks.
  std::optional<RoutePlan> plan_indexed(const Request&, const FleetIndex& fleet, std::span<const char> class_fits) override {
    FleetIndex::Entry best{0, fleet.size()};
    for (std::size_t c = 0; c < fleet.classes(); ++c)
      if (class_fits[c] && (best.second == fleet.size() || fleet.least_outstanding(c) < best))
        best = fleet.least_outstanding(c);
    return RoutePlan{best.second == fleet.size() ? 0 : best.second, std::nullopt};
  }
};

}  // namespace
HETSIM_REGISTER(Router, LeastOutstanding, "least_outstanding", "fewest unfinished requests (ties: lowest index)");
}  // namespace hetsim::policies
