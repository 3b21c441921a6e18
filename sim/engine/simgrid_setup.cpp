#include "sim/engine/simgrid_setup.hpp"

#include <xbt/log.h>

#include "sim/core/interrupt.hpp"

namespace hetsim::sim {
namespace sg = simgrid::s4u;

std::unique_ptr<sg::Engine> make_simgrid_engine() {
  int argc = 1;
  static char name[] = "hetsim";
  char* argv[] = {name, nullptr};
  std::unique_ptr<sg::Engine> engine;
  {
    // SimGrid installs its own SIGINT handler (exit(1), no cleanup): put ours back, with the signals
    // held meanwhile so none reaches SimGrid's.
    interrupt::Block block;
    engine = std::make_unique<sg::Engine>(&argc, argv);
    interrupt::reinstall();
  }
  xbt_log_control_set("root.thresh:critical");
  // Datacenter interconnects: plain max-min sharing without the LV08 factors, TCP-window cap or
  // cross-traffic, so an idle transfer takes bytes / bandwidth + latency exactly.
  sg::Engine::set_config("network/model:CM02");
  sg::Engine::set_config("network/crosstraffic:0");
  sg::Engine::set_config("network/TCP-gamma:0");
  // Full max-min updates, not SimGrid 3.32's default lazy ones: with lazy updates a flow could end
  // far too early (two flows from one GPU, one inside its node and one to a node of another type:
  // the second ended after 0.3 ms instead of 20 ms; tests/sim/engine/cluster_transfer_test.cpp).
  // Measured cost: none on the serving benchmarks, 9.5 -> 10.7 s on the 16,384-GPU training run.
  sg::Engine::set_config("network/optim:Full");
  // Model steps are sleeps on the CPU model; trace integration is its cheapest update scheme here
  // (measured: ~25% faster per sleep than the default lazy one).
  sg::Engine::set_config("cpu/optim:TI");
  // Actor stacks of 256 KiB instead of 8 MiB: every replica is an actor, and allocating and freeing
  // 8 MiB stacks (page tables) cost ~160 µs per replica (2.1 s of setup for 8,192 replicas, 0.84 s
  // now). A replica's step needs far less (every scenario in scenarios/ ran with 8 KiB; 4 KiB
  // overflows); the guard page below each stack stays, so an overflow still stops the run (SIGSEGV)
  // instead of corrupting memory.
  sg::Engine::set_config("contexts/stack-size:256");
  return engine;
}

}  // namespace hetsim::sim
