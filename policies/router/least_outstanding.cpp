// Least-outstanding-requests routing: the replica with the fewest unfinished requests; ties go to
// the lowest index so runs are deterministic.
#include "sim/serving/router.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class LeastOutstanding final : public Router {
 public:
  explicit LeastOutstanding(const config::Node&) {}
  std::size_t route(const Request&, std::span<const ReplicaLoad> replicas) override {
    std::size_t best = replicas.size();
    for (std::size_t i = 0; i < replicas.size(); ++i)
      if (replicas[i].can_fit && (best == replicas.size() || replicas[i].outstanding < replicas[best].outstanding)) best = i;
    return best == replicas.size() ? 0 : best;
  }
};

}  // namespace
HETSIM_REGISTER(Router, LeastOutstanding, "least_outstanding", "fewest unfinished requests (ties: lowest index)");
}  // namespace hetsim::policies
