#include "sim/engine/transfer_network.hpp"

#include <fmt/format.h>
#include <xbt/asserts.h>

#include <algorithm>

#include "sim/core/error.hpp"

namespace hetsim::sim {
namespace sg = simgrid::s4u;

namespace {
hw::Cluster lone_node(const hw::NodeTopology& topology) {
  hw::Cluster c;
  c.nodes.push_back({"", std::make_shared<const hw::NodeTopology>(topology), nullptr});
  return c;
}
}  // namespace

TransferNetwork::TransferNetwork(const hw::NodeTopology& topology, sg::NetZone* zone, const std::string& prefix)
    : router_(lone_node(topology)) {
  build(prefix + "transfer-network", zone, prefix);
  zone->seal();
}

TransferNetwork::TransferNetwork(hw::Cluster cluster, sg::NetZone* parent, const std::string& name)
    : router_(std::move(cluster)) {
  build(name, parent, "");
}

void TransferNetwork::build(const std::string& zone_name, sg::NetZone* parent, const std::string& sg_prefix) {
  auto* impl = new PlatformZone(zone_name, [this](unsigned long src, unsigned long dst) -> const ResolvedRoute& {
    try {
      return resolve(by_netpoint_.at(src), by_netpoint_.at(dst));
    } catch (const std::exception& e) {
      // start() resolves before SimGrid asks, so this is only reached by SimGrid calls made elsewhere.
      xbt_die("hetsim platform: %s", e.what());
    }
  });
  if (parent) impl->set_parent(parent->get_impl());
  sg::NetZone* zone = impl->get_iface();
  const hw::Cluster& cluster = router_.cluster();
  auto note_host = [&](sg::Host* h, Endpoint e) {
    const unsigned long id = h->get_netpoint()->id();
    if (by_netpoint_.size() <= id) by_netpoint_.resize(id + 1);
    by_netpoint_[id] = e;
    hosts_.push_back(h);
  };
  // Per node, in the order the single-node network always used (tiers with their disk or port,
  // switches, links), then its NICs; the fabric's uplinks last.
  for (std::uint32_t n = 0; n < cluster.nodes.size(); ++n) {
    const hw::ClusterNode& node = cluster.nodes[n];
    const hw::NodeTopology& topology = *node.topology;
    const std::string prefix = sg_prefix + node.prefix;
    vertex_offset_.push_back(hosts_.size());
    for (std::uint32_t v = 0; v < topology.tiers.size(); ++v) {
      const hw::MemoryTier& t = topology.tiers[v];
      auto* h = zone->create_host(prefix + t.name, 1e9);
      note_host(h, {n, v});
      if (t.is_block_device()) {
        disks_.push_back(h->create_disk(prefix + t.name + ".disk", t.read_bandwidth, t.write_bandwidth)->seal());
        ports_.push_back(nullptr);
      } else {
        // The tier's own bandwidth and access latency, as the first/last hop of every route.
        // Read (UP, out of the tier) and write (DOWN, into it) directions are separate.
        auto* port = zone->create_split_duplex_link(prefix + t.name + ".port", t.read_bandwidth);
        port->set_latency(t.latency)->seal();
        if (t.write_bandwidth != t.read_bandwidth) port->get_link_down()->set_bandwidth(t.write_bandwidth);
        ports_.push_back(port);
        disks_.push_back(nullptr);
      }
    }
    for (std::uint32_t s = 0; s < topology.switches.size(); ++s) {
      note_host(zone->create_host(prefix + topology.switches[s], 1e9), {n, static_cast<std::uint32_t>(topology.tiers.size() + s)});
      ports_.push_back(nullptr);
      disks_.push_back(nullptr);
    }
    link_offset_.push_back(links_.size());
    for (const auto& l : topology.links) {
      auto* link = zone->create_split_duplex_link(prefix + l.name, l.bandwidth);
      link->set_latency(l.latency)->seal();
      links_.push_back(link);
    }
    if (node.nics && cluster.fabric)
      for (const auto& nic : *node.nics) {
        auto* link = zone->create_split_duplex_link(prefix + nic.name, nic.bandwidth);
        link->set_latency(nic.latency)->seal();
        links_.push_back(link);
      }
  }
  for (std::size_t s = 0; s < router_.fabric_switches(); ++s) {
    // SimGrid names carry the zone's, so that several platforms can share an engine.
    auto* link = zone->create_split_duplex_link(zone_name + ":" + cluster.fabric->switch_name(s) + "-spine",
                                                cluster.fabric->uplink_bandwidth);
    link->set_latency(cluster.fabric->latency)->seal();
    uplinks_.push_back(link);
  }
  zone->seal();
}

const ResolvedRoute& TransferNetwork::resolve(Endpoint from, Endpoint to) {
  const std::uint64_t key = (static_cast<std::uint64_t>(vertex_id(from)) << 32) | vertex_id(to);
  if (auto it = routes_.find(key); it != routes_.end()) return it->second;
  ResolvedRoute r;
  auto add = [&r](sg::SplitDuplexLink* link, bool up) {
    sg::Link* half = up ? link->get_link_up() : link->get_link_down();
    r.links.push_back(half->get_impl());
    r.latency += half->get_latency();
    r.bottleneck = r.bottleneck > 0 ? std::min(r.bottleneck, half->get_bandwidth()) : half->get_bandwidth();
  };
  if (from != to) {
    if (auto* port = ports_[vertex_id(from)]) add(port, true);
    for (const auto& hop : router_.route(from, to)) {
      switch (hop.kind) {
        case hw::ClusterRouter::Hop::Kind::link: add(links_[link_offset_[hop.node] + hop.index], hop.forward); break;
        case hw::ClusterRouter::Hop::Kind::nic:
          add(links_[link_offset_[hop.node] + router_.cluster().nodes[hop.node].topology->links.size() + hop.index], hop.forward);
          break;
        case hw::ClusterRouter::Hop::Kind::uplink: add(uplinks_[hop.index], hop.forward); break;
      }
    }
    if (auto* port = ports_[vertex_id(to)]) add(port, false);
  }
  return routes_.emplace(key, std::move(r)).first->second;
}

double TransferNetwork::latency(const std::string& from, const std::string& to) {
  return resolve(router_.endpoint(from), router_.endpoint(to)).latency;
}

sg::Host* TransferNetwork::host(const std::string& endpoint) const {
  return hosts_[vertex_id(router_.endpoint(endpoint))];
}

TransferNetwork::Transfer TransferNetwork::start(const std::string& from, const std::string& to, double bytes,
                                                  double request_size, double overhead) {
  const auto a = router_.find(from), b = router_.find(to);
  const hw::MemoryTier* src = a ? router_.tier(*a) : nullptr;
  const hw::MemoryTier* dst = b ? router_.tier(*b) : nullptr;
  if (!src || !dst) throw InputError(fmt::format("transfer {} -> {}: both ends must be memory tiers", from, to));
  const ResolvedRoute& route = resolve(*a, *b);  // an unreachable pair fails here, in the caller's actor, naming both tiers
  Transfer t;
  // A block device at either end does the I/O on its disk, concurrently with the network part.
  if (src->is_block_device()) t.parts.push_back(disk_io(*a, *src, bytes, request_size, false));
  if (dst->is_block_device()) t.parts.push_back(disk_io(*b, *dst, bytes, request_size, true));
  // Nothing crosses a link when both ends are the same tier (only its disk, if any, works).
  if (*a != *b) {
    const double wire = bytes + (overhead > 0 ? overhead * route.bottleneck : 0.0);
    t.parts.push_back(sg::Comm::sendto_async(hosts_[vertex_id(*a)], hosts_[vertex_id(*b)], static_cast<std::uint64_t>(wire + 0.5)));
  }
  return t;
}

sg::ActivityPtr TransferNetwork::disk_io(Endpoint e, const hw::MemoryTier& tier, double bytes, double request_size, bool write) {
  // The effective bandwidth for this request size is modelled by inflating the bytes the disk
  // handles, so the slowdown still contends with other I/O on the same device.
  const double peak = write ? tier.write_bandwidth : tier.read_bandwidth;
  const auto size = static_cast<sg_size_t>(bytes * peak / tier.effective_bandwidth(request_size, write) + 0.5);
  sg::Disk* disk = disks_[vertex_id(e)];
  return write ? disk->write_async(size) : disk->read_async(size);
}

sg::ActivityPtr TransferNetwork::read_in_place(const std::string& tier, double bytes, double request_size) {
  const auto e = router_.find(tier);
  const hw::MemoryTier* t = e ? router_.tier(*e) : nullptr;
  if (!t || !t->is_block_device()) throw InputError(fmt::format("read in place: '{}' is not a block-device tier", tier));
  return disk_io(*e, *t, bytes, request_size, false);
}

double TransferNetwork::move(const std::string& from, const std::string& to, double bytes, double request_size) {
  const double t0 = sg::Engine::get_clock();
  start(from, to, bytes, request_size).wait();
  return sg::Engine::get_clock() - t0;
}

TransferNetwork::Counts TransferNetwork::counts() const {
  Counts c;
  c.hosts = hosts_.size();
  c.links = 2 * (links_.size() + uplinks_.size());
  for (auto* p : ports_) c.links += p ? 2 : 0;
  for (auto* d : disks_) c.disks += d ? 1 : 0;
  c.routes = routes_.size();
  return c;
}

}  // namespace hetsim::sim
