// Round-robin routing: replicas in turn, blind to load.
#include <algorithm>

#include "sim/serving/router.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class RoundRobin final : public Router {
 public:
  explicit RoundRobin(const config::Node&) {}
  std::size_t route(const Request&, std::span<const ReplicaLoad> replicas) override {
    // The next replica in turn that can hold the request.
    for (std::size_t tried = 0; tried < replicas.size(); ++tried) {
      const std::size_t i = next_++ % replicas.size();
      if (replicas[i].can_fit) return i;
    }
    return 0;
  }
  /// The same turn without visiting every replica: the first fitting one at or after the turn's
  /// start (wrapping), found per fitting class by binary search; the turn then moves past it, as
  /// route()'s counter would after trying every replica in between.
  std::optional<RoutePlan> plan_indexed(const Request&, const FleetIndex& fleet, std::span<const char> class_fits) override {
    const std::size_t n = fleet.size();
    const std::size_t start = next_ % n;
    std::size_t distance = n;  // from start to the chosen replica, wrapping
    for (std::size_t c = 0; c < fleet.classes(); ++c) {
      if (!class_fits[c]) continue;
      const auto members = fleet.members(c);
      const auto at = std::lower_bound(members.begin(), members.end(), start);
      distance = std::min(distance, at != members.end() ? *at - start : members.front() + n - start);
    }
    if (distance == n) {  // nothing fits (the engine does not ask then): as route(), every replica tried
      next_ += n;
      return RoutePlan{};
    }
    next_ += distance + 1;
    return RoutePlan{(start + distance) % n, std::nullopt};
  }

 private:
  std::size_t next_ = 0;
};

}  // namespace
HETSIM_REGISTER(Router, RoundRobin, "round_robin", "replicas in turn, blind to load");
}  // namespace hetsim::policies
