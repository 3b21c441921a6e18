#include "sim/engine/transfer_probe.hpp"

#include <simgrid/s4u.hpp>

#include <fmt/format.h>

#include <stdexcept>

#include "sim/core/error.hpp"
#include "sim/core/units.hpp"
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
      if (!(f.bytes > 0 && f.bytes <= units::kMaxTransferBytes))
        throw InputError(fmt::format("flow {} -> {}: {} bytes; expected more than 0 and at most {}", f.from, f.to, f.bytes,
                                     units::format(units::kMaxTransferBytes, units::Dim::bytes)));
      if (!(results[i].idle_seconds <= units::kMaxSimulatedSeconds))
        throw InputError(fmt::format("flow {} -> {}: {} would take {:g} s even alone, beyond the {:g} s limit of "
                                     "simulated time; check the bandwidths on its route",
                                     f.from, f.to, units::format(f.bytes, units::Dim::bytes), results[i].idle_seconds,
                                     units::kMaxSimulatedSeconds));
      results[i].seconds = -1;  // set when the flow ends
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
  // SimGrid returns from a deadlock (activities that can never complete) as from a normal end.
  for (std::size_t i = 0; i < flows.size(); ++i)
    if (results[i].seconds < 0)
      throw std::runtime_error(fmt::format("flow {} -> {} ({}) never completed: the simulation stopped at {:g} s with it "
                                           "in flight", flows[i].from, flows[i].to,
                                           units::format(flows[i].bytes, units::Dim::bytes), simgrid::s4u::Engine::get_clock()));
  return results;
}

std::vector<FlowResult> run_flows(const hw::NodeTopology& topology, const std::vector<Flow>& flows) {
  hw::Cluster cluster;
  cluster.nodes.push_back({"", std::make_shared<const hw::NodeTopology>(topology), nullptr});
  return run_flows(cluster, flows);
}

}  // namespace hetsim::sim
