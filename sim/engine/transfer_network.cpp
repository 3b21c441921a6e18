#include "sim/engine/transfer_network.hpp"

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace hetsim::sim {
namespace sg = simgrid::s4u;

TransferNetwork::TransferNetwork(const hw::NodeTopology& topology, sg::NetZone* zone, const std::string& prefix)
    : topology_(topology) {
  std::map<std::string, sg::SplitDuplexLink*> ports;
  for (const auto& t : topology.tiers) {
    auto* h = zone->create_host(prefix + t.name, 1e9);
    hosts_[t.name] = h;
    if (t.is_block_device()) {
      disks_[t.name] = h->create_disk(prefix + t.name + ".disk", t.read_bandwidth, t.write_bandwidth)->seal();
    } else {
      // The tier's own bandwidth and access latency, as the first/last hop of every route.
      // Read (UP, out of the tier) and write (DOWN, into it) directions are separate.
      auto* port = zone->create_split_duplex_link(prefix + t.name + ".port", t.read_bandwidth);
      port->set_latency(t.latency)->seal();
      if (t.write_bandwidth != t.read_bandwidth) port->get_link_down()->set_bandwidth(t.write_bandwidth);
      ports[t.name] = port;
    }
  }
  for (const auto& s : topology.switches) hosts_[s] = zone->create_host(prefix + s, 1e9);
  std::vector<sg::SplitDuplexLink*> links;
  for (const auto& l : topology.links) {
    auto* link = zone->create_split_duplex_link(prefix + l.name, l.bandwidth);
    link->set_latency(l.latency)->seal();
    links.push_back(link);
  }
  // Routes for every ordered pair of endpoints (nodes hold tens of endpoints, not thousands).
  for (const auto& [from, hf] : hosts_)
    for (const auto& [to, ht] : hosts_) {
      if (from == to) continue;
      std::vector<sg::LinkInRoute> route;
      if (ports.count(from)) route.emplace_back(ports.at(from), sg::LinkInRoute::Direction::UP);
      for (auto [index, forward] : topology.route(from, to))
        route.emplace_back(links[index], forward ? sg::LinkInRoute::Direction::UP : sg::LinkInRoute::Direction::DOWN);
      if (ports.count(to)) route.emplace_back(ports.at(to), sg::LinkInRoute::Direction::DOWN);
      zone->add_route(hf->get_netpoint(), ht->get_netpoint(), nullptr, nullptr, route, false);
    }
  zone->seal();
}

TransferNetwork::Transfer TransferNetwork::start(const std::string& from, const std::string& to, double bytes,
                                                  double request_size) {
  const hw::MemoryTier* src = topology_.tier(from);
  const hw::MemoryTier* dst = topology_.tier(to);
  if (!src || !dst) throw InputError(fmt::format("transfer {} -> {}: both ends must be memory tiers", from, to));
  Transfer t;
  // A block device at either end does the I/O on its disk, concurrently with the network part.
  if (src->is_block_device()) t.parts.push_back(disk_io(*src, bytes, request_size, false));
  if (dst->is_block_device()) t.parts.push_back(disk_io(*dst, bytes, request_size, true));
  t.parts.push_back(sg::Comm::sendto_async(hosts_.at(from), hosts_.at(to), static_cast<std::uint64_t>(bytes + 0.5)));
  return t;
}

sg::ActivityPtr TransferNetwork::disk_io(const hw::MemoryTier& tier, double bytes, double request_size, bool write) {
  // The effective bandwidth for this request size is modelled by inflating the bytes the disk
  // handles, so the slowdown still contends with other I/O on the same device.
  const double peak = write ? tier.write_bandwidth : tier.read_bandwidth;
  const auto size = static_cast<sg_size_t>(bytes * peak / tier.effective_bandwidth(request_size, write) + 0.5);
  return write ? disks_.at(tier.name)->write_async(size) : disks_.at(tier.name)->read_async(size);
}

sg::ActivityPtr TransferNetwork::read_in_place(const std::string& tier, double bytes, double request_size) {
  const hw::MemoryTier* t = topology_.tier(tier);
  if (!t || !t->is_block_device()) throw InputError(fmt::format("read in place: '{}' is not a block-device tier", tier));
  return disk_io(*t, bytes, request_size, false);
}

double TransferNetwork::move(const std::string& from, const std::string& to, double bytes, double request_size) {
  const double t0 = sg::Engine::get_clock();
  start(from, to, bytes, request_size).wait();
  return sg::Engine::get_clock() - t0;
}

}  // namespace hetsim::sim
