#pragma once
// The one way hetsim moves bytes between places: the run's platform (its node instances and the
// cluster fabric, hw/cluster_topology) as one routed, contended SimGrid network. A transfer from
// tier X to tier Y follows hw::ClusterRouter's route (inside a node: the node topology's route),
// and contends on every link and disk on its way with all other traffic. Links are SimGrid
// split-duplex links (bandwidth per direction); each byte-addressable tier has a port link at its
// own bandwidth (so a CXL expander or host DRAM can be the bottleneck); block devices (SSD, flash)
// are SimGrid disks whose effective bandwidth follows the request size and IOPS limit. A
// transfer's disk I/O and network part run concurrently (DMA pipelines them), so it ends when the
// slower finishes.
//
// Setup creates hosts, links and disks only (linear in the number of nodes); the route of a pair
// is computed when a transfer first needs it and then cached (sim/engine/platform_zone).
#include <simgrid/s4u.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "hw/cluster_router.hpp"
#include "hw/topology.hpp"
#include "sim/engine/platform_zone.hpp"

namespace hetsim::sim {

class TransferNetwork {
 public:
  /// One node: builds it in a new zone inside `zone`, then seals `zone`. SimGrid names get
  /// `prefix`; the methods take the tiers' own names.
  TransferNetwork(const hw::NodeTopology& topology, simgrid::s4u::NetZone* zone, const std::string& prefix = "");
  /// A whole platform: every node instance of `cluster` and its fabric, in a new zone named
  /// `name` inside `parent` (sealed here; `parent` is not). Tiers are named prefix + tier name.
  TransferNetwork(hw::Cluster cluster, simgrid::s4u::NetZone* parent, const std::string& name = "platform");
  TransferNetwork(const TransferNetwork&) = delete;
  TransferNetwork& operator=(const TransferNetwork&) = delete;

  /// An in-flight transfer.
  struct Transfer {
    std::vector<simgrid::s4u::ActivityPtr> parts;
    void wait() {
      for (auto& p : parts) p->wait();
    }
  };

  /// Starts moving `bytes` from tier `from` to tier `to`; block devices are accessed in requests
  /// of `request_size` bytes. InputError naming both tiers if no route joins them. Must be called
  /// from an actor.
  /// `overhead` seconds of per-copy setup and submission are charged as link time at the route's
  /// bottleneck (the bytes on the network are inflated by overhead x bottleneck), so an idle copy
  /// takes bytes / bottleneck + overhead + latency and contention stretches the setup like data.
  Transfer start(const std::string& from, const std::string& to, double bytes, double request_size = 1 << 20,
                 double overhead = 0);
  /// Reads `bytes` inside a block-device tier without moving them out (computational storage
  /// scanning at its internal bandwidth). Must be called from an actor.
  simgrid::s4u::ActivityPtr read_in_place(const std::string& tier, double bytes, double request_size = 1 << 20);
  /// Moves and waits; returns the simulated duration.
  double move(const std::string& from, const std::string& to, double bytes, double request_size = 1 << 20);

  /// Latency of the route from tier `from` to tier `to` (its links' and ports' latencies).
  double latency(const std::string& from, const std::string& to);
  /// The SimGrid host of a tier or node switch.
  simgrid::s4u::Host* host(const std::string& endpoint) const;
  const hw::ClusterRouter& router() const { return router_; }

  /// What setup created (for scaling checks): hosts, SimGrid links (a split-duplex link counts
  /// twice), disks; and routes resolved so far.
  struct Counts {
    std::size_t hosts = 0, links = 0, disks = 0, routes = 0;
  };
  Counts counts() const;

 private:
  using Endpoint = hw::ClusterRouter::Endpoint;
  void build(const std::string& zone_name, simgrid::s4u::NetZone* parent, const std::string& sg_prefix);
  std::size_t vertex_id(Endpoint e) const { return vertex_offset_[e.node] + e.vertex; }
  const ResolvedRoute& resolve(Endpoint from, Endpoint to);
  simgrid::s4u::ActivityPtr disk_io(Endpoint e, const hw::MemoryTier& tier, double bytes, double request_size, bool write);

  hw::ClusterRouter router_;
  // Indexed by vertex id (vertex_offset_[node] + vertex): hosts, ports (null for block devices and
  // switches), disks (null unless a block device).
  std::vector<std::size_t> vertex_offset_;
  std::vector<simgrid::s4u::Host*> hosts_;
  std::vector<simgrid::s4u::SplitDuplexLink*> ports_;
  std::vector<simgrid::s4u::Disk*> disks_;
  // Node links and NICs, indexed by link_offset_[node] + link (NICs follow the node's links).
  std::vector<std::size_t> link_offset_;
  std::vector<simgrid::s4u::SplitDuplexLink*> links_;
  std::vector<simgrid::s4u::SplitDuplexLink*> uplinks_;  ///< per first-level fabric switch
  std::vector<Endpoint> by_netpoint_;                    ///< netpoint id in the zone -> endpoint
  std::unordered_map<std::uint64_t, ResolvedRoute> routes_;
};

}  // namespace hetsim::sim
