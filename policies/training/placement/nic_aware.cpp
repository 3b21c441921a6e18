// NIC-aware placement (Holmes, Yang et al., "Holmes: Towards Distributed Training Across Clusters with
// Heterogeneous NIC Environment", 2023): nodes ordered by NIC speed, fastest first, a group's nodes
// together, so that each pipeline stage's block of nodes, and with it every data-parallel ring of
// that stage, lies within one NIC type where the sizes allow; only pipeline sends, the lightest
// traffic, cross between types. (Holmes also gives stages on faster NICs more layers: set
// training.layers_per_stage.)
#include <algorithm>
#include <numeric>

#include "sim/core/registry.hpp"
#include "sim/training/node_placement.hpp"

namespace hetsim::policies {
namespace {

class NicAwarePlacement final : public training::NodePlacement {
 public:
  explicit NicAwarePlacement(const config::Node&) {}
  std::vector<int> order(const std::vector<training::PlacementNode>& nodes) const override {
    std::vector<int> out(nodes.size());
    std::iota(out.begin(), out.end(), 0);
    std::stable_sort(out.begin(), out.end(), [&](int a, int b) {
      const auto& x = nodes[static_cast<std::size_t>(a)];
      const auto& y = nodes[static_cast<std::size_t>(b)];
      if (x.nic_bandwidth != y.nic_bandwidth) return x.nic_bandwidth > y.nic_bandwidth;
      return x.group < y.group;
    });
    return out;
  }
};

}  // namespace
HETSIM_REGISTER(training::NodePlacement, NicAwarePlacement, "nic_aware",
                "Holmes: nodes by NIC speed, a group's together, so each stage's data-parallel rings stay on one NIC type");
}  // namespace hetsim::policies
