#include "sim/engine/transfer_probe.hpp"

#include <simgrid/s4u.hpp>

#include "sim/engine/simgrid_setup.hpp"
#include "sim/engine/transfer_network.hpp"

namespace hetsim::sim {
namespace sg = simgrid::s4u;

std::vector<FlowResult> run_flows(const hw::NodeTopology& topology, const std::vector<Flow>& flows) {
  std::vector<FlowResult> results(flows.size());
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const Flow& f = flows[i];
    results[i].idle_seconds = topology.idle_transfer_time(f.from, f.to, f.bytes, f.request_size);  // validates names
    for (auto [index, forward] : topology.route(f.from, f.to)) results[i].route.push_back(topology.links[index].name);
  }
  const auto engine = make_simgrid_engine();
  auto* zone = sg::create_full_zone("probe");
  TransferNetwork net(topology, zone);
  for (std::size_t i = 0; i < flows.size(); ++i)
    sg::Actor::create("flow-" + std::to_string(i), net.host(flows[i].from), [&net, &flows, &results, i] {
      const Flow& f = flows[i];
      results[i].seconds = net.move(f.from, f.to, f.bytes, f.request_size);
    });
  engine->run();
  return results;
}

}  // namespace hetsim::sim
