#pragma once
// The SimGrid engine as every hetsim simulation configures it (one per process).
#include <simgrid/s4u.hpp>

#include <memory>

namespace hetsim::sim {

/// Creates the process's SimGrid engine, silenced and set up so that transfer times follow
/// bytes / bandwidth + latency with max-min fair sharing (STACK-NOTES.md).
std::unique_ptr<simgrid::s4u::Engine> make_simgrid_engine();

}  // namespace hetsim::sim
