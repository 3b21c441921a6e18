// Ranks fill the nodes in the order the cluster lists them (torchrun / SLURM's node list, Megatron's
// rank order): logical node i on physical node i.
#include <numeric>

#include "sim/core/registry.hpp"
#include "sim/training/node_placement.hpp"

namespace hetsim::policies {
namespace {

class InOrderPlacement final : public training::NodePlacement {
 public:
  explicit InOrderPlacement(const config::Node&) {}
  std::vector<int> order(const std::vector<training::PlacementNode>& nodes) const override {
    std::vector<int> out(nodes.size());
    std::iota(out.begin(), out.end(), 0);
    return out;
  }
};

}  // namespace
HETSIM_REGISTER(training::NodePlacement, InOrderPlacement, "in_order", "ranks fill the nodes in the listed order");
}  // namespace hetsim::policies
