#pragma once
// A SimGrid netzone whose routes come from a callback instead of a table: SimGrid's own zones store
// routes for every pair of their members (FullZone: a table of size n², filled at setup) or search
// a graph whose tie-breaking differs from hw::NodeTopology::route (Dijkstra: hop count only). This
// zone asks the transfer network (sim/engine/transfer_network) for the route of a pair when a
// communication first needs it, so setup is linear in the number of hosts and links.
#include <simgrid/kernel/routing/NetPoint.hpp>
#include <simgrid/kernel/routing/NetZoneImpl.hpp>

#include <functional>
#include <string>
#include <vector>

namespace hetsim::sim {

/// A route as SimGrid consumes it: link implementations in order and their summed latency.
struct ResolvedRoute {
  std::vector<simgrid::kernel::resource::StandardLinkImpl*> links;
  double latency = 0;
  double bottleneck = 0;  ///< the lowest bandwidth on the route (bytes/s; 0 for an empty route)
};

class PlatformZone final : public simgrid::kernel::routing::NetZoneImpl {
 public:
  /// Gives the route between the netpoints with ids `src` and `dst` of this zone (never null;
  /// reports unreachable pairs itself).
  using Resolver = std::function<const ResolvedRoute&(unsigned long src, unsigned long dst)>;

  PlatformZone(const std::string& name, Resolver resolver) : NetZoneImpl(name), resolver_(std::move(resolver)) {}

  void get_local_route(const simgrid::kernel::routing::NetPoint* src, const simgrid::kernel::routing::NetPoint* dst,
                       simgrid::kernel::routing::Route* into, double* latency) override;
  void get_graph(const s_xbt_graph_t* graph, std::map<std::string, xbt_node_t, std::less<>>* nodes,
                 std::map<std::string, xbt_edge_t, std::less<>>* edges) override;

 private:
  Resolver resolver_;
};

}  // namespace hetsim::sim
