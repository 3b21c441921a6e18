#include "sim/engine/platform_zone.hpp"

namespace hetsim::sim {

void PlatformZone::get_local_route(const simgrid::kernel::routing::NetPoint* src,
                                   const simgrid::kernel::routing::NetPoint* dst, simgrid::kernel::routing::Route* into,
                                   double* latency) {
  const ResolvedRoute& r = resolver_(src->id(), dst->id());
  into->link_list_.insert(into->link_list_.end(), r.links.begin(), r.links.end());
  // SimGrid's FullZone adds each link's latency in route order; r.latency was summed the same way
  // from 0, and callers start from 0, so the result is bit-identical.
  if (latency) *latency += r.latency;
}

void PlatformZone::get_graph(const s_xbt_graph_t*, std::map<std::string, xbt_node_t, std::less<>>*,
                             std::map<std::string, xbt_edge_t, std::less<>>*) {
  // Not exported: the platform graph lives in hw::ClusterRouter (routes are found on demand).
}

}  // namespace hetsim::sim
