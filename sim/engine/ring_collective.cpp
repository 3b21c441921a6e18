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

double add_ring(TransferNetwork& network, Collective kind, const std::vector<const std::string*>& members,
                double payload, FlowBatch& batch) {
  const RingShape shape = ring_shape(kind, static_cast<int>(members.size()));
  const double bytes = shape.factor * payload;
  const auto channels = ring_channels(members);
  double alpha = 0;
  for (const auto& ring : channels)
    for (std::size_t k = 0; k < ring.size(); ++k) {
      const std::string& from = *ring[k];
      const std::string& to = *ring[(k + 1) % ring.size()];
      batch.add(from, to, bytes / static_cast<double>(channels.size()));
      alpha = std::max(alpha, network.latency(from, to));
    }
  return (shape.steps - 1) * alpha;
}

void FlowBatch::launch(TransferNetwork& network, simgrid::s4u::Host* host, const std::string& name, ActorFailure& failure,
                       std::function<void()> then) {
  struct Shared {
    std::vector<Flow> flows;
    std::size_t issuers_left = 0;
    std::function<void()> then;
  };
  auto shared = std::make_shared<Shared>();
  shared->flows = std::move(flows_);
  flows_.clear();
  shared->then = std::move(then);
  const std::size_t n = shared->flows.size();
  const std::size_t issuers = std::max<std::size_t>(1, (n + kFlowsPerIssuer - 1) / kFlowsPerIssuer);
  shared->issuers_left = issuers;
  for (std::size_t k = 0; k < issuers; ++k)
    simgrid::s4u::Actor::create(issuers == 1 ? name : name + "-" + std::to_string(k), host, [&network, &failure, shared, k] {
      failure.guard([&] {
        std::vector<TransferNetwork::Transfer> mine;
        const std::size_t end = std::min(shared->flows.size(), (k + 1) * kFlowsPerIssuer);
        for (std::size_t i = k * kFlowsPerIssuer; i < end; ++i) {
          const Flow& f = shared->flows[i];
          mine.push_back(network.start(f.from, f.to, f.bytes));
        }
        for (auto& t : mine) t.wait();
        if (--shared->issuers_left == 0) shared->then();
      });
    });
}

}  // namespace hetsim::sim
