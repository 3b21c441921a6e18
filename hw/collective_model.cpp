#include "hw/collective_model.hpp"

#include <algorithm>
#include <cmath>

namespace hetsim::hw {
namespace {

/// Bus bytes per rank (nccl-tests' busBw convention) and latency steps of the ring algorithm.
CollectiveCost ring(Collective kind, double s, double k) {
  switch (kind) {
    case Collective::all_reduce: return {2 * (k - 1) / k * s, 2 * (k - 1), 0};
    case Collective::all_gather:  // payload = the gathered result per rank
    case Collective::reduce_scatter: return {(k - 1) / k * s, k - 1, 0};
    case Collective::all_to_all: return {(k - 1) / k * s, k - 1, 0};
    case Collective::broadcast: return {s, k - 1, 0};  // pipelined chain: every rank forwards the payload once
    case Collective::send_recv: return {s, 1, 0};
    case Collective::none: return {};
  }
  return {};
}

/// Double binary tree (Sanders et al. 2009, NCCL 2.4): pipelined, so each rank moves about the
/// ring's bytes, but in ceil(log2 k) rounds per phase. Only reductions and broadcast have a tree
/// form; other patterns fall back to the ring.
CollectiveCost tree(Collective kind, double s, double k) {
  const double depth = std::ceil(std::log2(k));
  switch (kind) {
    case Collective::all_reduce: return {2 * (k - 1) / k * s, 2 * depth, 0};
    case Collective::broadcast: return {s, depth, 0};
    default: return ring(kind, s, k);
  }
}

}  // namespace

CollectiveCost flat_collective(Collective kind, CollectiveAlgorithm algorithm, double payload, int ranks,
                               const LinkLevel& link, bool ideal) {
  if (ranks <= 1 || kind == Collective::none) return {};
  const double k = ranks;
  auto priced = [&](CollectiveCost c) {
    const double eff = ideal ? 1.0 : link.efficiency;
    const double half = ideal || c.bus_bytes <= 0 ? 0.0 : link.half_bytes;
    c.time = (c.bus_bytes + half) / (link.bandwidth * eff) + (ideal ? 0.0 : c.steps * link.latency);
    return c;
  };
  switch (algorithm) {
    case CollectiveAlgorithm::ring: return priced(ring(kind, payload, k));
    case CollectiveAlgorithm::tree: return priced(tree(kind, payload, k));
    case CollectiveAlgorithm::fastest: {
      const CollectiveCost a = priced(ring(kind, payload, k)), b = priced(tree(kind, payload, k));
      return b.time < a.time ? b : a;
    }
  }
  return {};
}

double routed_remote_nodes(int nodes, const RoutedRows& r) {
  const double n = nodes;
  double reached = n * (1 - std::pow(1 - 1 / n, r.fanout));  // k experts placed uniformly
  if (r.group_limit > 0 && r.groups > 0 && r.group_limit < r.groups) {
    const double groups = r.groups, limit = r.group_limit;
    if (r.groups >= nodes) {
      // g groups per node: a node is missed when none of its g groups is among the `limit` drawn,
      // with probability C(groups - g, limit) / C(groups, limit).
      const double g = groups / n;
      double missed = 1;
      for (int i = 0; i < r.group_limit; ++i) missed *= std::max(0.0, (groups - g - i) / (groups - i));
      reached = std::min(reached, n * (1 - missed));
    } else {
      reached = std::min(reached, limit * n / groups);  // each group spans n / groups nodes
    }
  }
  return reached * (n - 1) / n;
}

double collective_time(Collective kind, CollectiveAlgorithm algorithm, double payload, int ranks, int nodes,
                       const LinkLevel& scale_up, const LinkLevel& scale_out, bool ideal, const RoutedRows& routed) {
  if (nodes <= 1) return flat_collective(kind, algorithm, payload, ranks, scale_up, ideal).time;
  const int local = std::max(1, ranks / nodes);
  auto up = [&](Collective k, double s) { return flat_collective(k, algorithm, s, local, scale_up, ideal).time; };
  auto out = [&](Collective k, double s) { return flat_collective(k, algorithm, s, nodes, scale_out, ideal).time; };
  switch (kind) {
    case Collective::all_reduce:  // reduce-scatter in the node, all-reduce of the shard across, all-gather back
      return up(Collective::reduce_scatter, payload) + out(Collective::all_reduce, payload / local) +
             up(Collective::all_gather, payload);
    case Collective::all_gather:  // gather node shards across nodes, then inside the node
    case Collective::reduce_scatter:
      return out(kind, payload / local) + up(kind, payload);
    case Collective::broadcast: return out(kind, payload) + up(kind, payload);
    case Collective::all_to_all: {
      // Each rank keeps 1/ranks, sends (local-1)/ranks inside its node and (ranks-local)/ranks out;
      // routed rows cross once per remote node they reach and are forwarded inside it.
      const bool dedup = routed.fanout > 0;
      const double across =
          dedup ? payload / routed.fanout * routed_remote_nodes(nodes, routed) : payload * (ranks - local) / ranks;
      const double inside = dedup ? payload * (local - 1) / local : payload * (local - 1) / ranks;
      const LinkLevel& o = scale_out;
      const double t_out = (across + (ideal ? 0 : o.half_bytes)) / (o.bandwidth * (ideal ? 1 : o.efficiency)) +
                           (ideal ? 0 : (nodes - 1) * o.latency);
      const double t_in = local > 1 ? (inside + (ideal ? 0 : scale_up.half_bytes)) / (scale_up.bandwidth * (ideal ? 1 : scale_up.efficiency)) +
                                          (ideal ? 0 : (local - 1) * scale_up.latency)
                                    : 0.0;
      return std::max(t_out, t_in);
    }
    case Collective::send_recv: return flat_collective(kind, algorithm, payload, 2, scale_out, ideal).time;
    case Collective::none: return 0;
  }
  return 0;
}

double MeasuredCollective::time(double payload) const {
  for (const CollectiveSegment& s : segments)
    if (payload <= s.up_to || &s == &segments.back()) return s.alpha + payload / s.bandwidth;
  return 0;
}

}  // namespace hetsim::hw
