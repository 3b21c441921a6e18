#pragma once
// A collective as NCCL runs it across nodes: rings over the members, one channel per device the
// fullest node holds, every ring step's bytes started at once as flows on the routed, contended
// platform network (their bandwidth term), the remaining steps' latencies added by the caller.
// On an idle fabric this is the alpha-beta ring time; with other traffic the flows share links.
// Used by the training engine (data-parallel reductions and gathers) and the trace replayer.
#include <simgrid/s4u.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "sim/core/op.hpp"
#include "sim/engine/transfer_network.hpp"

namespace hetsim::sim {

/// Bytes each participant sends to its ring neighbour, as a multiple of the payload, and the
/// ring's latency-bound steps (NCCL's ring: reduce-scatter then all-gather for an all-reduce).
struct RingShape {
  double factor = 0;
  int steps = 0;
};
RingShape ring_shape(Collective kind, int members);

/// NCCL-style rings over `members` (device tiers in rank order, "nodeN/tier"): one channel per
/// member the fullest node holds, each visiting every node's members rotated by its index, so that
/// each channel leaves a node from a different device, hence NIC. Without channels, a ring of
/// devices packed in nodes would cross every node boundary through one NIC; NCCL spreads its rings
/// over all of them. Members one per node give one ring.
std::vector<std::vector<const std::string*>> ring_channels(const std::vector<const std::string*>& members);

/// A started ring collective: its flows, and the latency of its steps after the first (wait for
/// every part, then sleep `extra_latency`).
struct RingFlows {
  std::vector<simgrid::s4u::ActivityPtr> parts;
  double extra_latency = 0;
  std::size_t transfers = 0;  ///< flows started
};

/// Starts collective `kind` of `payload` bytes per member over `members` (at least two) on
/// `network`, appending to `into`. Must be called from an actor.
void start_ring(TransferNetwork& network, Collective kind, const std::vector<const std::string*>& members,
                double payload, RingFlows& into);

}  // namespace hetsim::sim
