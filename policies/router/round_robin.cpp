// Round-robin routing: replicas in turn, blind to load.
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

 private:
  std::size_t next_ = 0;
};

}  // namespace
HETSIM_REGISTER(Router, RoundRobin, "round_robin", "replicas in turn, blind to load");
}  // namespace hetsim::policies
