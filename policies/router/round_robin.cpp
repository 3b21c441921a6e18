// Round-robin routing: replicas in turn, blind to load.
#include "policies/router/router.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class RoundRobin final : public Router {
 public:
  explicit RoundRobin(const config::Node&) {}
  std::size_t route(const Request&, std::span<const ReplicaLoad> replicas) override { return next_++ % replicas.size(); }

 private:
  std::size_t next_ = 0;
};

}  // namespace
HETSIM_REGISTER(Router, RoundRobin, "round_robin", "replicas in turn, blind to load");
}  // namespace hetsim::policies
