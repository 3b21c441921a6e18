#include "sim/engine/transfer_probe.hpp"

#include <simgrid/s4u.hpp>

#include "sim/engine/simgrid_setup.hpp"
#include "sim/engine/transfer_network.hpp"

namespace hetsim::sim {
namespace sg = simgrid::s4u;

std::vector<FlowResult> run_flows(const hw::Cluster& cluster, const std::vector<Flow>& flows) {
  std::vector<FlowResult> results(flows.size());
  {
    const hw::ClusterRouter router(cluster);
    for (std::size_t i = 0; i < flows.size(); ++i) {
      const Flow& f = flows[i];
      results[i].idle_seconds = router.idle_transfer_time(f.from, f.to, f.bytes, f.request_size);  // validates names
      for (const auto& hop : router.route(f.from, f.to)) results[i].route.push_back(router.link(hop).name);
    }
  }
  const auto engine = make_simgrid_engine();
  TransferNetwork net(cluster, nullptr, "probe");
  for (std::size_t i = 0; i < flows.size(); ++i)
    sg::Actor::create("flow-" + std::to_string(i), net.host(flows[i].from), [&net, &flows, &results, i] {
      const Flow& f = flows[i];
      results[i].seconds = net.move(f.from, f.to, f.bytes, f.request_size);
    });
  engine->run();
  return results;
}

std::vector<FlowResult> run_flows(const hw::NodeTopology& topology, const std::vector<Flow>& flows) {
  hw::Cluster cluster;
  cluster.nodes.push_back({"", std::make_shared<const hw::NodeTopology>(topology), nullptr});
  return run_flows(cluster, flows);
}

}  // namespace hetsim::sim
