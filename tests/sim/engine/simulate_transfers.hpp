#pragma once
// Runs transfers on a topology in a fresh SimGrid engine (one per test process).
#include <functional>

#include "hw/topology.hpp"
#include "sim/engine/simgrid_setup.hpp"
#include "sim/engine/transfer_network.hpp"

namespace hetsim::test {

/// Builds the network for `topology`, runs `body` in an actor on `driver_host`, runs the engine.
inline void simulate_transfers(const hw::NodeTopology& topology, const std::string& driver_host,
                               const std::function<void(sim::TransferNetwork&)>& body) {
  auto engine = sim::make_simgrid_engine();
  auto* zone = simgrid::s4u::create_full_zone("topology");
  sim::TransferNetwork net(topology, zone);
  simgrid::s4u::Actor::create("driver", net.host(driver_host), [&] { body(net); });
  engine->run();
}

}  // namespace hetsim::test
