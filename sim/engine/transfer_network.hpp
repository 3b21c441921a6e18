#pragma once
// The one way hetsim moves bytes between places: a transfer from tier X to tier Y follows the
// node topology's route (hw/topology), and contends on every link and disk on its way with all
// other traffic. Links are SimGrid split-duplex links (bandwidth per direction); each byte-
// addressable tier has a port link at its own bandwidth (so a CXL expander or host DRAM can be
// the bottleneck); block devices (SSD, flash) are SimGrid disks whose effective bandwidth
// follows the request size and IOPS limit. A transfer's disk I/O and network part run
// concurrently (DMA pipelines them), so it ends when the slower finishes.
#include <simgrid/s4u.hpp>

#include <map>
#include <string>
#include <vector>

#include "hw/topology.hpp"

namespace hetsim::sim {

class TransferNetwork {
 public:
  /// Builds hosts, links, disks and routes for `topology` in `zone` (not yet sealed; sealed here).
  /// SimGrid names get `prefix` (several nodes in one platform); methods take the tiers' own names.
  TransferNetwork(const hw::NodeTopology& topology, simgrid::s4u::NetZone* zone, const std::string& prefix = "");

  /// An in-flight transfer.
  struct Transfer {
    std::vector<simgrid::s4u::ActivityPtr> parts;
    void wait() {
      for (auto& p : parts) p->wait();
    }
  };

  /// Starts moving `bytes` from tier `from` to tier `to`; block devices are accessed in requests
  /// of `request_size` bytes. Must be called from an actor.
  Transfer start(const std::string& from, const std::string& to, double bytes, double request_size = 1 << 20);
  /// Reads `bytes` inside a block-device tier without moving them out (computational storage
  /// scanning at its internal bandwidth). Must be called from an actor.
  simgrid::s4u::ActivityPtr read_in_place(const std::string& tier, double bytes, double request_size = 1 << 20);
  /// Moves and waits; returns the simulated duration.
  double move(const std::string& from, const std::string& to, double bytes, double request_size = 1 << 20);

  simgrid::s4u::Host* host(const std::string& endpoint) const { return hosts_.at(endpoint); }

 private:
  simgrid::s4u::ActivityPtr disk_io(const hw::MemoryTier& tier, double bytes, double request_size, bool write);

  const hw::NodeTopology& topology_;
  std::map<std::string, simgrid::s4u::Host*> hosts_;
  std::map<std::string, simgrid::s4u::Disk*> disks_;
};

}  // namespace hetsim::sim
