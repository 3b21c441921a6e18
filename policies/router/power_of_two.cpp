// Power-of-two-choices routing (Mitzenmacher, "The Power of Two Choices in Randomized Load
// Balancing", IEEE TPDS 2001): two distinct fitting replicas drawn at random, the one with fewer
// outstanding requests wins (ties: the first drawn). Its maximum load is exponentially closer to
// the mean than one random choice, and it needs two loads per request, not the whole fleet's, so
// it herds less than least-outstanding on stale signals (policies.router.refresh).
#include <vector>

#include "sim/core/registry.hpp"
#include "sim/core/rng.hpp"
#include "sim/serving/router.hpp"

namespace hetsim::policies {
namespace {

class PowerOfTwo final : public Router {
 public:
  explicit PowerOfTwo(const config::Node&) {}
  void seed(std::uint64_t seed) override { rng_ = Rng(seed, "router.power_of_two"); }

  std::size_t route(const Request&, std::span<const ReplicaLoad> replicas) override {
    fitting_.clear();
    for (std::size_t i = 0; i < replicas.size(); ++i)
      if (replicas[i].can_fit) fitting_.push_back(i);
    if (fitting_.size() < 2) return fitting_.empty() ? 0 : fitting_.front();
    const auto n = static_cast<std::int64_t>(fitting_.size());
    const auto a = rng_.uniform_int(0, n - 1);
    auto b = rng_.uniform_int(0, n - 2);
    if (b >= a) ++b;  // distinct from the first
    const std::size_t first = fitting_[static_cast<std::size_t>(a)], second = fitting_[static_cast<std::size_t>(b)];
    return replicas[second].outstanding < replicas[first].outstanding ? second : first;
  }

 private:
  Rng rng_{1, "router.power_of_two"};
  std::vector<std::size_t> fitting_;  ///< scratch: the fitting replicas' indices
};

}  // namespace
HETSIM_REGISTER(Router, PowerOfTwo, "power_of_two",
                "two fitting replicas drawn at random, the one with fewer outstanding requests wins");
}  // namespace hetsim::policies
