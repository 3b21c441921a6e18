#include "hw/topology.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <map>

#include "sim/core/error.hpp"

namespace hetsim::hw {

const MemoryTier* NodeTopology::tier(const std::string& name) const {
  for (const auto& t : tiers)
    if (t.name == name) return &t;
  return nullptr;
}

std::vector<std::pair<std::size_t, bool>> NodeTopology::route(const std::string& from, const std::string& to) const {
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property,
                                      boost::property<boost::edge_weight_t, double, boost::property<boost::edge_index_t, std::size_t>>>;
  std::map<std::string, std::size_t> index;
  auto vertex = [&](const std::string& name) {
    return index.emplace(name, index.size()).first->second;
  };
  for (const auto& t : tiers) vertex(t.name);
  for (const auto& s : switches) vertex(s);
  if (!index.count(from)) throw InputError(fmt::format("no tier or switch named '{}'", from));
  if (!index.count(to)) throw InputError(fmt::format("no tier or switch named '{}'", to));
  if (from == to) return {};
  Graph g(index.size());
  // Directed edges: a link can be left from an HBM tier only when the route starts there.
  auto forwards = [&](const std::string& v) {
    const MemoryTier* t = tier(v);
    return v == from || !t || t->kind != TierKind::hbm;
  };
  for (std::size_t i = 0; i < links.size(); ++i) {
    const double w = hop_weight(links[i].latency, links[i].bandwidth);
    if (forwards(links[i].a)) boost::add_edge(index.at(links[i].a), index.at(links[i].b), {w, i}, g);
    if (forwards(links[i].b)) boost::add_edge(index.at(links[i].b), index.at(links[i].a), {w, i}, g);
  }
  std::vector<std::size_t> pred(index.size());
  std::vector<double> dist(index.size());
  boost::dijkstra_shortest_paths(g, index.at(from), boost::predecessor_map(pred.data()).distance_map(dist.data()));
  const std::size_t target = index.at(to);
  if (pred[target] == target) throw InputError(fmt::format("no route from '{}' to '{}' over the node's links", from, to));
  std::vector<std::pair<std::size_t, bool>> path;
  std::vector<std::string> names(index.size());
  for (const auto& [n, i] : index) names[i] = n;
  for (std::size_t v = target; v != index.at(from); v = pred[v]) {
    const std::size_t u = pred[v];
    auto [e, found] = boost::edge(u, v, g);
    (void)found;
    const std::size_t link = boost::get(boost::edge_index, g, e);
    path.emplace_back(link, links[link].a == names[u]);
  }
  std::reverse(path.begin(), path.end());
  return path;
}

double NodeTopology::idle_transfer_time(const std::string& from, const std::string& to, double bytes,
                                        double request_size) const {
  const MemoryTier* src = tier(from);
  const MemoryTier* dst = tier(to);
  if (!src || !dst) throw InputError(fmt::format("transfer {} -> {}: both ends must be memory tiers", from, to));
  double bottleneck = std::numeric_limits<double>::infinity(), latency = 0, disk = 0;
  if (src->is_block_device()) disk = std::max(disk, bytes / src->effective_bandwidth(request_size, false));
  else bottleneck = src->read_bandwidth, latency += src->latency;
  if (dst->is_block_device()) disk = std::max(disk, bytes / dst->effective_bandwidth(request_size, true));
  else bottleneck = std::min(bottleneck, dst->write_bandwidth), latency += dst->latency;
  for (auto [index, forward] : route(from, to)) {
    bottleneck = std::min(bottleneck, links[index].bandwidth);
    latency += links[index].latency;
  }
  const double network = std::isinf(bottleneck) ? latency : bytes / bottleneck + latency;
  return std::max(network, disk);
}

NodeTopology parse_topology(const config::Node& node) {
  NodeTopology t;
  std::map<std::string, int> seen;
  auto unique = [&](const config::Node& where, const std::string& name) {
    if (seen[name]++) where.fail_key("name", name, "names of tiers and switches must be unique in a node");
  };
  for (const auto& n : node.child("tiers").items()) {
    MemoryTier m;
    m.name = n.get<std::string>("name").required();
    unique(n, m.name);
    m.kind = *parse_tier_kind(n.get<std::string>("kind").one_of({"hbm", "dram", "cxl", "ssd", "flash", "csd", "remote"}).value());
    m.capacity = n.quantity("capacity", units::Dim::bytes).positive();
    if (n.has("bandwidth")) {
      m.read_bandwidth = m.write_bandwidth = n.quantity("bandwidth", units::Dim::bandwidth).positive();
    } else {
      m.read_bandwidth = n.quantity("read_bandwidth", units::Dim::bandwidth).positive();
      m.write_bandwidth = n.quantity("write_bandwidth", units::Dim::bandwidth).positive();
    }
    m.latency = n.quantity("latency", units::Dim::time).default_to("0 s").non_negative();
    if (m.is_block_device()) {
      m.request_half = n.quantity("request_half", units::Dim::bytes).default_to("0 B").non_negative();
      m.read_iops = n.get<double>("read_iops").default_to(0.0).at_least(0.0);
      m.write_iops = n.get<double>("write_iops").default_to(0.0).at_least(0.0);
    }
    t.tiers.push_back(m);
  }
  if (auto sw = node.maybe("switches"))
    for (const auto& s : sw->items()) {
      t.switches.push_back(s.scalar());
      unique(s, s.scalar());
    }
  for (const auto& n : node.child("links").items()) {
    TopologyLink l;
    l.name = n.get<std::string>("name").required();
    l.kind = n.get<std::string>("kind").required();
    const auto ends = n.child("between").items();
    if (ends.size() != 2) n.fail_key("between", "", "expected two endpoints, e.g. [gpu0.hbm, host.dram]");
    l.a = ends[0].scalar();
    l.b = ends[1].scalar();
    for (const auto& e : {l.a, l.b})
      if (!seen.count(e)) n.fail_key("between", e, "expected the name of a tier or switch of this node");
    l.bandwidth = n.quantity("bandwidth", units::Dim::bandwidth).positive();
    l.latency = n.quantity("latency", units::Dim::time).default_to("0 s").non_negative();
    t.links.push_back(l);
  }
  return t;
}

std::vector<Nic> parse_nics(const config::Node& node, const NodeTopology& topology) {
  std::vector<Nic> out;
  const auto nics = node.maybe("nics");
  if (!nics) return out;
  for (const auto& n : nics->items()) {
    Nic nic;
    nic.name = n.get<std::string>("name").required();
    nic.attach = n.get<std::string>("attach").required();
    bool known = topology.tier(nic.attach) != nullptr;
    for (const auto& sw : topology.switches) known = known || sw == nic.attach;
    if (!known) n.fail_key("attach", nic.attach, "expected a tier or switch of this node");
    for (const auto& other : out)
      if (other.name == nic.name) n.fail_key("name", nic.name, "NIC names must be unique in a node");
    nic.kind = n.get<std::string>("kind").default_to("ethernet").one_of({"ib", "roce", "ethernet"});
    nic.bandwidth = n.quantity("bandwidth", units::Dim::bandwidth).positive();
    nic.latency = n.quantity("latency", units::Dim::time).default_to("0 s").non_negative();
    out.push_back(nic);
  }
  return out;
}

}  // namespace hetsim::hw
