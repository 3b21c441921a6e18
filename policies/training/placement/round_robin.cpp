// A scheduler that knows nothing of NICs and hands out nodes from each group in turn (one from the
// first group, one from the second, ...): consecutive ranks, and so each pipeline stage's
// data-parallel groups, span every NIC type. The NIC-unaware baseline of Holmes' comparison.
#include "sim/core/registry.hpp"
#include "sim/training/node_placement.hpp"

namespace hetsim::policies {
namespace {

class RoundRobinPlacement final : public training::NodePlacement {
 public:
  explicit RoundRobinPlacement(const config::Node&) {}
  std::vector<int> order(const std::vector<training::PlacementNode>& nodes) const override {
    std::vector<std::vector<int>> by_group;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const auto g = static_cast<std::size_t>(nodes[i].group);
      if (by_group.size() <= g) by_group.resize(g + 1);
      by_group[g].push_back(static_cast<int>(i));
    }
    std::vector<int> out;
    for (std::size_t k = 0; out.size() < nodes.size(); ++k)
      for (const auto& members : by_group)
        if (k < members.size()) out.push_back(members[k]);
    return out;
  }
};

}  // namespace
HETSIM_REGISTER(training::NodePlacement, RoundRobinPlacement, "round_robin",
                "nodes taken from each node group in turn (a NIC-unaware scheduler)");
}  // namespace hetsim::policies
