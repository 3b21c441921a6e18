#include "sim/engine/ring_collective.hpp"

#include <algorithm>
#include <string_view>

namespace hetsim::sim {

RingShape ring_shape(Collective kind, int members) {
  const double share = static_cast<double>(members - 1) / members;
  if (kind == Collective::all_reduce) return {2 * share, 2 * (members - 1)};
  return {share, members - 1};
}

std::vector<std::vector<const std::string*>> ring_channels(const std::vector<const std::string*>& members) {
  std::vector<std::vector<const std::string*>> by_node;
  std::string_view last;
  for (const std::string* m : members) {
    const std::string_view node = std::string_view(*m).substr(0, m->find('/'));
    if (by_node.empty() || node != last) by_node.emplace_back();
    by_node.back().push_back(m);
    last = node;
  }
  std::size_t channels = 1;
  for (const auto& n : by_node) channels = std::max(channels, n.size());
  std::vector<std::vector<const std::string*>> rings(channels);
  for (std::size_t c = 0; c < channels; ++c)
    for (const auto& n : by_node)
      for (std::size_t k = 0; k < n.size(); ++k) rings[c].push_back(n[(k + c) % n.size()]);
  return rings;
}

void start_ring(TransferNetwork& network, Collective kind, const std::vector<const std::string*>& members,
                double payload, RingFlows& into) {
  const RingShape shape = ring_shape(kind, static_cast<int>(members.size()));
  const double bytes = shape.factor * payload;
  const auto channels = ring_channels(members);
  double alpha = 0;
  for (const auto& ring : channels)
    for (std::size_t k = 0; k < ring.size(); ++k) {
      const std::string& from = *ring[k];
      const std::string& to = *ring[(k + 1) % ring.size()];
      auto t = network.start(from, to, bytes / static_cast<double>(channels.size()));
      for (auto& part : t.parts) into.parts.push_back(std::move(part));
      alpha = std::max(alpha, network.latency(from, to));
      ++into.transfers;
    }
  into.extra_latency = std::max(into.extra_latency, (shape.steps - 1) * alpha);
}

}  // namespace hetsim::sim
