#pragma once
// A collective as NCCL runs it across nodes: rings over the members, one channel per device the
// fullest node holds, every ring step's bytes started at once as flows on the routed, contended
// platform network (their bandwidth term), the remaining steps' latencies added by the caller.
// On an idle fabric this is the alpha-beta ring time; with other traffic the flows share links.
// Used by the training engine (data-parallel reductions and gathers) and the trace replayer.
#include <simgrid/s4u.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "sim/core/op.hpp"
#include "sim/engine/actor_failure.hpp"
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

/// Flows to start at one moment and wait for as one. They are started by issuer actors of at most
/// kFlowsPerIssuer flows each: SimGrid keeps an actor's activities in a list that it scans on every
/// completion, so one actor issuing thousands of concurrent flows costs time quadratic in them
/// (measured in SimGrid 3.32: 16,000 flows from one actor 11.7 s, from actors of 32 flows each 0.62 s).
class FlowBatch {
 public:
  static constexpr std::size_t kFlowsPerIssuer = 64;

  void add(const std::string& from, const std::string& to, double bytes) { flows_.push_back({from, to, bytes}); }
  std::size_t size() const { return flows_.size(); }

  /// Starts every flow now, from issuer actors on `host` named `name`, and runs `then` in the last
  /// issuer to see all of its flows end, once every flow has ended. Failures of issuers or of
  /// `then` go to `failure`. Must be called from an actor; the batch is consumed.
  void launch(TransferNetwork& network, simgrid::s4u::Host* host, const std::string& name, ActorFailure& failure,
              std::function<void()> then);

 private:
  struct Flow {
    std::string from, to;
    double bytes = 0;
  };
  std::vector<Flow> flows_;
};

/// Adds collective `kind` of `payload` bytes per member over `members` (at least two) to `batch`;
/// returns the latency of the ring's steps after the first (to wait after its flows end).
double add_ring(TransferNetwork& network, Collective kind, const std::vector<const std::string*>& members,
                double payload, FlowBatch& batch);

}  // namespace hetsim::sim
