#include "hw/cluster_router.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "sim/core/error.hpp"

namespace hetsim::hw {

ClusterRouter::ClusterRouter(Cluster cluster) : cluster_(std::move(cluster)) {
  std::map<std::pair<const NodeTopology*, const std::vector<Nic>*>, std::uint32_t> type_ids;
  node_type_.reserve(cluster_.nodes.size());
  for (std::uint32_t n = 0; n < cluster_.nodes.size(); ++n) {
    const ClusterNode& node = cluster_.nodes[n];
    if (!node_by_prefix_.emplace(node.prefix, n).second)
      throw InputError(fmt::format("two nodes of the platform share the name prefix '{}'", node.prefix));
    auto [it, fresh] = type_ids.emplace(std::pair{node.topology.get(), node.nics.get()}, types_.size());
    if (fresh) {
      TypeInfo t;
      t.topology = node.topology.get();
      for (const auto& tier : t.topology->tiers) t.index.emplace(tier.name, t.index.size());
      for (const auto& sw : t.topology->switches) t.index.emplace(sw, t.index.size());
      if (node.nics)
        for (const auto& nic : *node.nics) t.nic_attach.push_back(t.index.at(nic.attach));
      types_.push_back(std::move(t));
    }
    node_type_.push_back(it->second);
    if (cluster_.fabric && node.nics)
      for (std::size_t k = 0; k < node.nics->size(); ++k)
        fabric_switches_ = std::max(fabric_switches_, cluster_.fabric->switch_of(n, k) + 1);
  }
}

std::optional<ClusterRouter::Endpoint> ClusterRouter::find(std::string_view name) const {
  auto lookup = [&](std::uint32_t node, std::string_view local) -> std::optional<Endpoint> {
    const TypeInfo& t = type_of(node);
    auto it = t.index.find(std::string(local));
    if (it == t.index.end()) return std::nullopt;
    return Endpoint{node, it->second};
  };
  // Tier names hold no '/', so the node prefix is everything up to the last one.
  const auto slash = name.rfind('/');
  if (slash != std::string_view::npos) {
    auto it = node_by_prefix_.find(std::string(name.substr(0, slash + 1)));
    if (it != node_by_prefix_.end())
      if (auto e = lookup(it->second, name.substr(slash + 1))) return e;
  }
  // A lone node without prefix (possibly a flattened cluster whose names hold '/').
  if (auto it = node_by_prefix_.find(""); it != node_by_prefix_.end()) return lookup(it->second, name);
  return std::nullopt;
}

ClusterRouter::Endpoint ClusterRouter::endpoint(const std::string& name) const {
  if (auto e = find(name)) return *e;
  throw InputError(fmt::format("no tier or switch named '{}'", name));
}

const MemoryTier* ClusterRouter::tier(Endpoint e) const {
  const auto& tiers = type_of(e.node).topology->tiers;
  return e.vertex < tiers.size() ? &tiers[e.vertex] : nullptr;
}

std::string ClusterRouter::name(Endpoint e) const {
  const NodeTopology& t = *type_of(e.node).topology;
  const std::string& local = e.vertex < t.tiers.size() ? t.tiers[e.vertex].name : t.switches[e.vertex - t.tiers.size()];
  return cluster_.nodes[e.node].prefix + local;
}

const std::optional<ClusterRouter::Path>& ClusterRouter::path(const TypeInfo& type, std::uint32_t from, std::uint32_t to) const {
  const std::uint64_t key = (static_cast<std::uint64_t>(from) << 32) | to;
  auto it = type.paths.find(key);
  if (it != type.paths.end()) return it->second;
  std::optional<Path> p;
  const NodeTopology& t = *type.topology;
  auto local = [&](std::uint32_t v) -> const std::string& {
    return v < t.tiers.size() ? t.tiers[v].name : t.switches[v - t.tiers.size()];
  };
  try {
    p = Path{t.route(local(from), local(to)), 0.0};
    for (auto [index, forward] : p->links) p->weight += hop_weight(t.links[index].latency, t.links[index].bandwidth);
  } catch (const InputError&) {
    p.reset();  // unreachable inside the node
  }
  return type.paths.emplace(key, std::move(p)).first->second;
}

std::vector<ClusterRouter::Hop> ClusterRouter::route(Endpoint from, Endpoint to) const {
  std::vector<Hop> out;
  if (from == to) return out;
  auto append = [&out](std::uint32_t node, const Path& p) {
    for (auto [index, forward] : p.links) out.push_back({Hop::Kind::link, node, static_cast<std::uint32_t>(index), forward});
  };
  const TypeInfo& src = type_of(from.node);
  const TypeInfo& dst = type_of(to.node);
  if (from.node == to.node) {
    if (const auto& p = path(src, from.vertex, to.vertex)) {
      append(from.node, *p);
      return out;
    }
  }
  // Across the fabric: out through NIC e of the source node, in through NIC f of the destination.
  const auto& fabric = cluster_.fabric;
  const auto* src_nics = cluster_.nodes[from.node].nics.get();
  const auto* dst_nics = cluster_.nodes[to.node].nics.get();
  std::string why;
  if (!fabric) why = "the platform has no cluster fabric";
  else if (!src_nics || src_nics->empty()) why = fmt::format("node '{}' has no NICs", cluster_.nodes[from.node].prefix);
  else if (!dst_nics || dst_nics->empty()) why = fmt::format("node '{}' has no NICs", cluster_.nodes[to.node].prefix);
  double best = std::numeric_limits<double>::infinity(), best_out = best;
  std::size_t best_e = 0, best_f = 0;
  constexpr double kTie = 1e-12;  // far below any link latency, far above rounding of a sum of ~10 weights
  if (why.empty()) {
    // NIC and fabric hops weigh hops, then latency (no reference-transfer term: that term only
    // chooses among a node's own links, NVLink over PCIe).
    const double uplinks = 2 * (1.0 + fabric->latency);
    for (std::size_t e = 0; e < src_nics->size(); ++e) {
      const auto& out_path = path(src, from.vertex, src.nic_attach[e]);
      if (from.vertex != src.nic_attach[e] && !out_path) continue;
      const double out_weight = (out_path ? out_path->weight : 0.0) + 1.0 + (*src_nics)[e].latency;
      for (std::size_t f = 0; f < dst_nics->size(); ++f) {
        const auto& in_path = path(dst, dst.nic_attach[f], to.vertex);
        if (to.vertex != dst.nic_attach[f] && !in_path) continue;
        const bool same_switch = fabric->switch_of(from.node, e) == fabric->switch_of(to.node, f);
        const double w = out_weight + (same_switch ? 0.0 : uplinks) + 1.0 + (*dst_nics)[f].latency +
                         (in_path ? in_path->weight : 0.0);
        // Equal cost (hop weights; sums compared with a tolerance, as they are added in
        // different orders): leave the source node sooner, so GPU i leaves on its own NIC (rail i).
        const double out_w = out_path ? out_path->weight : 0.0;
        if (w < best - kTie || (w < best + kTie && out_w < best_out - kTie)) best = w, best_out = out_w, best_e = e, best_f = f;
      }
    }
    if (std::isinf(best)) why = "no NIC of one node is reachable over its own links";
  }
  if (!why.empty())
    throw InputError(fmt::format("no route from '{}' to '{}': {}", name(from), name(to), why));
  if (const auto& p = path(src, from.vertex, src.nic_attach[best_e])) append(from.node, *p);
  out.push_back({Hop::Kind::nic, from.node, static_cast<std::uint32_t>(best_e), true});
  const std::size_t sw_e = fabric->switch_of(from.node, best_e), sw_f = fabric->switch_of(to.node, best_f);
  if (sw_e != sw_f) {
    out.push_back({Hop::Kind::uplink, 0, static_cast<std::uint32_t>(sw_e), true});
    out.push_back({Hop::Kind::uplink, 0, static_cast<std::uint32_t>(sw_f), false});
  }
  out.push_back({Hop::Kind::nic, to.node, static_cast<std::uint32_t>(best_f), false});
  if (const auto& p = path(dst, dst.nic_attach[best_f], to.vertex)) append(to.node, *p);
  return out;
}

std::vector<ClusterRouter::Hop> ClusterRouter::route(const std::string& from, const std::string& to) const {
  return route(endpoint(from), endpoint(to));
}

TopologyLink ClusterRouter::link(const Hop& hop) const {
  switch (hop.kind) {
    case Hop::Kind::link: {
      const std::string& prefix = cluster_.nodes[hop.node].prefix;
      TopologyLink l = type_of(hop.node).topology->links[hop.index];
      l.name = prefix + l.name;
      l.a = prefix + l.a;
      l.b = prefix + l.b;
      return l;
    }
    case Hop::Kind::nic: {
      const std::string& prefix = cluster_.nodes[hop.node].prefix;
      const Nic& nic = (*cluster_.nodes[hop.node].nics)[hop.index];
      return {prefix + nic.name, nic.kind, prefix + nic.attach, cluster_.fabric->switch_name(cluster_.fabric->switch_of(hop.node, hop.index)),
              nic.bandwidth, nic.latency};
    }
    case Hop::Kind::uplink: {
      const std::string sw = cluster_.fabric->switch_name(hop.index);
      return {sw + "-spine", "fabric", sw, "spine", cluster_.fabric->uplink_bandwidth, cluster_.fabric->latency};
    }
  }
  throw InvariantError("unknown hop kind");
}

double ClusterRouter::idle_transfer_time(const std::string& from, const std::string& to, double bytes, double request_size) const {
  const auto a = find(from), b = find(to);
  const MemoryTier* src = a ? tier(*a) : nullptr;
  const MemoryTier* dst = b ? tier(*b) : nullptr;
  if (!src || !dst) {
    if (!a) (void)endpoint(from);  // "no tier or switch named ..."
    if (!b) (void)endpoint(to);
    throw InputError(fmt::format("transfer {} -> {}: both ends must be memory tiers", from, to));
  }
  // Same arithmetic, in the same order, as NodeTopology::idle_transfer_time.
  double bottleneck = std::numeric_limits<double>::infinity(), latency = 0, disk = 0;
  if (src->is_block_device()) disk = std::max(disk, bytes / src->effective_bandwidth(request_size, false));
  else bottleneck = src->read_bandwidth, latency += src->latency;
  if (dst->is_block_device()) disk = std::max(disk, bytes / dst->effective_bandwidth(request_size, true));
  else bottleneck = std::min(bottleneck, dst->write_bandwidth), latency += dst->latency;
  for (const Hop& hop : route(*a, *b)) {
    const TopologyLink l = link(hop);
    bottleneck = std::min(bottleneck, l.bandwidth);
    latency += l.latency;
  }
  const double network = std::isinf(bottleneck) ? latency : bytes / bottleneck + latency;
  return std::max(network, disk);
}

std::size_t ClusterRouter::cached_routes() const {
  std::size_t n = 0;
  for (const auto& t : types_) n += t.paths.size();
  return n;
}

}  // namespace hetsim::hw
