#pragma once
// Inside a node: memory tiers (HBM, host DRAM, CXL expanders, NVMe SSDs, flash, remote storage)
// and the links between them (NVLink, PCIe, CXL, NVLink-C2C, NICs), possibly through switches.
// Every byte that moves between two places follows the route found here, and the engine turns
// the route into contended SimGrid links and disks (sim/engine/transfer_network).
//
//   tiers:
//     - {name: gpu0.hbm, kind: hbm, capacity: 80 GB, bandwidth: 3.35 TB/s}
//     - {name: host.dram, kind: dram, capacity: 1 TB, bandwidth: 300 GB/s, latency: 100 ns}
//     - {name: cxl0, kind: cxl, capacity: 256 GB, bandwidth: 64 GB/s, latency: 250 ns}
//     - {name: csd0, kind: csd, capacity: 4 TB, read_bandwidth: 48 GB/s, write_bandwidth: 6 GB/s}
//     - {name: nvme0, kind: ssd, capacity: 7.68 TB, read_bandwidth: 13 GB/s, write_bandwidth: 6.6 GB/s,
//        read_iops: 2500000, request_half: 64 KiB}
//   switches: [pcie_switch0]
//   links:
//     - {name: pcie0, kind: pcie, between: [gpu0.hbm, pcie_switch0], bandwidth: 64 GB/s, latency: 1 us}
#include <optional>
#include <string>
#include <vector>

#include "hw/memory_tier.hpp"
#include "sim/core/config.hpp"

namespace hetsim::hw {

struct TopologyLink {
  std::string name;
  std::string kind;       ///< nvlink | pcie | cxl | c2c | nic | ib | roce | ethernet | ...
  std::string a, b;       ///< endpoints (tiers or switches)
  double bandwidth = 0;   ///< bytes/s per direction
  double latency = 0;     ///< seconds
};

/// A network interface of a node: its link into the cluster fabric, attached to one of the node's
/// tiers or switches (where GPUDirect RDMA traffic enters and leaves the node).
///   nics:
///     - {name: nic0, attach: gpu0.hbm, bandwidth: 400 Gbps, latency: 1 us, kind: ib}
struct Nic {
  std::string name;
  std::string attach;     ///< a tier or switch of the node
  std::string kind;       ///< ib | roce | ethernet
  double bandwidth = 0;   ///< bytes/s per direction
  double latency = 0;     ///< seconds
};

/// Weight of one hop in route choice: hops first (1 each); among routes of as many hops, the one
/// that moves a reference transfer (1 MiB) sooner: its links' latencies plus that transfer's time at
/// each link's bandwidth. So GPU-to-GPU copies take NVLink rather than an equally short PCIe path.
inline double hop_weight(double latency, double bandwidth) {
  constexpr double kReferenceBytes = 1024.0 * 1024.0;
  return 1.0 + latency + (bandwidth > 0 ? kReferenceBytes / bandwidth : 0.0);
}

struct NodeTopology {
  std::vector<MemoryTier> tiers;
  std::vector<std::string> switches;
  std::vector<TopologyLink> links;

  const MemoryTier* tier(const std::string& name) const;
  /// Links from `from` to `to`, each with whether it is crossed from its `a` side (true) or `b`
  /// side; the least total hop_weight (fewest hops, then the fastest for a reference transfer).
  /// Device memory (HBM) is never crossed on the way: a GPU does not forward other traffic. Empty
  /// if from == to; InputError if unreachable.
  std::vector<std::pair<std::size_t, bool>> route(const std::string& from, const std::string& to) const;
  /// Analytic time of a transfer on an idle node: bytes / bottleneck + the route's latencies (tier
  /// ports included), or a block device's I/O time at this request size if that is longer (the
  /// disk and network parts overlap). What the simulated transfer must equal when nothing contends.
  double idle_transfer_time(const std::string& from, const std::string& to, double bytes, double request_size) const;
};

NodeTopology parse_topology(const config::Node& node);
/// Reads `nics` (optional) of a node whose topology is `topology`; attach points are checked.
std::vector<Nic> parse_nics(const config::Node& node, const NodeTopology& topology);

}  // namespace hetsim::hw
