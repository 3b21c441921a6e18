#pragma once
// Routes between any two places of a cluster (hw/cluster_topology) without flattening it: a route
// inside a node is the node topology's own (fewest hops, then the fastest for a reference transfer,
// never through a GPU's memory; computed once per
// node type and pair), and a route between nodes is the cheapest combination, by the same measure,
// of a way out of the source node to one of its NICs, the fabric between the NICs' switches, and a
// way in from one of the destination's NICs. Setup is linear in the number of nodes; each route is
// found on first use.
//
// This equals the route of the flattened cluster graph except that traffic never transits a third
// node (hosts do not forward), and that a route inside a node stays inside it whenever the node's
// own links connect the two places (no hairpin through the fabric), that NIC and fabric hops weigh
// hops then latency only, and that exact ties leave the source node as early as possible: with NIC i on GPU i, GPU i's traffic to
// another node leaves on rail i (the flattened graph's Dijkstra broke such ties by vertex order, and
// could move to the destination GPU's rail over NVLink first). Where the destination GPU is on
// another rail, the route crosses the spine or uses NVLink inside the destination node, whichever
// has fewer hops, then lower latency.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hw/cluster_topology.hpp"

namespace hetsim::hw {

class ClusterRouter {
 public:
  /// A tier or switch of a node: `vertex` < tiers.size() is a tier, the rest are its switches.
  struct Endpoint {
    std::uint32_t node = 0;
    std::uint32_t vertex = 0;
    bool operator==(const Endpoint&) const = default;
  };
  /// One link of a route.
  struct Hop {
    enum class Kind : std::uint8_t { link, nic, uplink };
    Kind kind = Kind::link;
    std::uint32_t node = 0;   ///< node of a link or NIC
    std::uint32_t index = 0;  ///< node link, node NIC, or first-level fabric switch (uplink)
    bool forward = true;      ///< link: a -> b; NIC: node -> fabric; uplink: switch -> spine
  };

  explicit ClusterRouter(Cluster cluster);

  const Cluster& cluster() const { return cluster_; }
  /// Endpoint named `name` ("n1/gpu0.hbm"), or nullopt.
  std::optional<Endpoint> find(std::string_view name) const;
  /// Endpoint named `name`; InputError naming it if there is none.
  Endpoint endpoint(const std::string& name) const;
  /// The tier at `e`, or nullptr for a switch.
  const MemoryTier* tier(Endpoint e) const;
  std::string name(Endpoint e) const;
  /// Number of first-level fabric switches (leaves or rails); 0 without a fabric.
  std::size_t fabric_switches() const { return fabric_switches_; }

  /// Links from `from` to `to` (empty if equal); InputError naming both ends if unreachable.
  std::vector<Hop> route(Endpoint from, Endpoint to) const;
  std::vector<Hop> route(const std::string& from, const std::string& to) const;
  /// A hop's link as a topology link (prefixed name, endpoints, bandwidth, latency).
  TopologyLink link(const Hop& hop) const;
  /// As NodeTopology::idle_transfer_time, over this router's routes.
  double idle_transfer_time(const std::string& from, const std::string& to, double bytes, double request_size) const;
  /// Distinct (node type, pair) routes computed so far.
  std::size_t cached_routes() const;

 private:
  struct Path {
    std::vector<std::pair<std::size_t, bool>> links;  ///< NodeTopology::route's result
    double weight = 0;                                ///< Σ hop_weight: hops first, then the faster for a reference transfer
  };
  struct TypeInfo {
    const NodeTopology* topology = nullptr;
    std::unordered_map<std::string, std::uint32_t> index;      ///< tiers, then switches
    std::vector<std::uint32_t> nic_attach;                      ///< vertex each NIC attaches to
    mutable std::unordered_map<std::uint64_t, std::optional<Path>> paths;
  };
  const std::optional<Path>& path(const TypeInfo& type, std::uint32_t from, std::uint32_t to) const;
  const TypeInfo& type_of(std::uint32_t node) const { return types_[node_type_[node]]; }

  Cluster cluster_;
  std::vector<TypeInfo> types_;
  std::vector<std::uint32_t> node_type_;
  std::unordered_map<std::string, std::uint32_t> node_by_prefix_;
  std::size_t fabric_switches_ = 0;
};

}  // namespace hetsim::hw
