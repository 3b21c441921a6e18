#pragma once
// alpha-beta model of collectives (Thakur et al., "Optimization of collective communication
// operations in MPICH", 2005; NCCL's ring and double-binary-tree algorithms):
//   time = steps * alpha + bus_bytes / (bandwidth * efficiency)
// where bus_bytes is what each rank sends over its bottleneck link and steps the latency-bound
// rounds. A group spanning several nodes is hierarchical (NCCL on multi-node): the payload is
// reduce-scattered inside each node over the scale-up link, the node shards go across nodes over
// scale-out, and the result is all-gathered inside the node again.
#include <cstddef>
#include <vector>

#include "sim/core/op.hpp"

namespace hetsim::hw {

/// One level of the network a collective crosses.
struct LinkLevel {
  double bandwidth = 0;   ///< bytes/s per direction per rank
  double latency = 0;     ///< seconds per step (alpha)
  double efficiency = 1;  ///< achieved fraction of bandwidth (bus bandwidth / link bandwidth)
  double half_bytes = 0;  ///< bus bytes at which efficiency is half of `efficiency` (calibrated; 0 = flat)
};

/// Terms of one collective on one level.
struct CollectiveCost {
  double bus_bytes = 0;  ///< bytes each rank moves over its link
  double steps = 0;      ///< latency-bound rounds
  double time = 0;       ///< seconds
};

/// One collective of `payload` bytes per rank among `ranks` ranks on one level. ring or tree;
/// `fastest` returns the cheaper. send_recv is one message of `payload`; broadcast and all-to-all
/// follow the same bus-byte conventions as nccl-tests (PERFORMANCE.md).
CollectiveCost flat_collective(Collective kind, CollectiveAlgorithm algorithm, double payload, int ranks,
                               const LinkLevel& link, bool ideal = false);

/// A collective over `ranks` ranks spread evenly over `nodes` nodes: flat on `scale_up` if one
/// node, else hierarchical (scale-up phases inside nodes around a scale-out phase across them).
/// An all-to-all of `routed` rows (RoutedRows, fanout > 0) across nodes sends each row once per
/// distinct remote node it reaches over scale-out and forwards the copies inside the node over
/// scale-up (DeepEP): payload / fanout x routed_remote_nodes across, payload x (local - 1) / local inside.
double collective_time(Collective kind, CollectiveAlgorithm algorithm, double payload, int ranks, int nodes,
                       const LinkLevel& scale_up, const LinkLevel& scale_out, bool ideal = false,
                       const RoutedRows& routed = {});

/// Expected distinct nodes other than its own that a row routed to `r.fanout` experts reaches, the
/// experts spread evenly over `nodes` nodes: with a group limit, the nodes covered by r.group_limit
/// groups drawn uniformly from r.groups (groups laid out in order, r.groups / nodes per node, or a
/// group over nodes / r.groups nodes); without, nodes x (1 - (1 - 1/nodes)^fanout) nodes; of those,
/// a share (nodes - 1) / nodes is remote.
double routed_remote_nodes(int nodes, const RoutedRows& r);

/// A collective measured on real hardware (calibrated profile): piecewise alpha-beta over payload
/// ranges, which is how NCCL behaves (LL, LL128 and Simple protocols, ring/tree/NVLS algorithms
/// take over at different sizes): t = alpha + payload / bandwidth within each segment.
struct CollectiveSegment {
  double up_to = 0;      ///< payload bytes (per rank) this segment covers up to; the last one is open-ended
  double alpha = 0;      ///< seconds
  double bandwidth = 0;  ///< payload bytes / s (algorithm bandwidth, as nccl-tests' algbw)
};
struct MeasuredCollective {
  Collective kind = Collective::all_reduce;
  int ranks = 2;
  int nodes = 1;
  std::vector<CollectiveSegment> segments;  ///< ordered by up_to
  double held_out_error = 0;                ///< median relative error on held-out sizes
  std::size_t points = 0;
  double time(double payload) const;
};

}  // namespace hetsim::hw
