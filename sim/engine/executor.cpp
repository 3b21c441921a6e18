#include "sim/engine/executor.hpp"

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace hetsim::sim {
namespace sg = simgrid::s4u;

namespace {
// Engine hosts run compute nodes as executions of `seconds` work units at one unit per second.
constexpr double kEngineSpeed = 1.0;
}  // namespace

EngineId Executor::add_engine(const std::string& name, bool shared) {
  hosts_.push_back(zone_->create_host(name, kEngineSpeed));
  names_.push_back(name);
  on_.push_back(1);
  shared_.push_back(shared ? 1 : 0);
  return static_cast<EngineId>(hosts_.size() - 1);
}

void Executor::set_engine_on(EngineId engine, bool on) {
  on_.at(engine) = on ? 1 : 0;
  if (on) hosts_.at(engine)->turn_on();
  else hosts_.at(engine)->turn_off();
}

bool Executor::engine_on(EngineId engine) const { return on_[engine] != 0; }

void Executor::check_on(const GraphNode& n, const char* what) const {
  if (!engine_on(n.engine)) throw EngineFailure(n.engine, fmt::format("engine {} {} '{}'", names_[n.engine], what, n.name));
}

void Executor::run_alone(GraphNode& n, double now) {
  // Nothing else in flight: a plain sleep is exact and the cheapest event SimGrid has.
  // The end is computed, not read back from SimGrid's clock (which advances by differences and can
  // be an ulp off): a step's times are then the same whether it ran as an event or ahead of one.
  check_on(n, "is off: cannot run");
  n.start = now;
  n.end = now + n.seconds;
  sg::this_actor::sleep_until(n.end);
  check_on(n, "failed while running");
}

bool Executor::try_run_ahead(OpGraph& graph, double now, double horizon) const {
  auto& nodes = graph.nodes();
  if (nodes.size() != 1 || !may_sleep(nodes[0]) || !engine_on(nodes[0].engine)) return false;
  GraphNode& n = nodes[0];
  const double end = now + n.seconds;
  if (!(now < horizon && end < horizon)) return false;
  n.start = now;
  n.end = end;
  return true;
}

void Executor::run(OpGraph& graph, double now) {
  auto& nodes = graph.nodes();
  if (nodes.size() == 1 && may_sleep(nodes[0])) return run_alone(nodes[0], now);  // fast path
  run_general(graph);
}

void Executor::run_general(OpGraph& graph) {
  auto& nodes = graph.nodes();
  const std::size_t n = nodes.size();
  std::vector<std::uint32_t> waiting(n);
  std::vector<std::vector<NodeId>> successors(n);
  for (NodeId i = 0; i < n; ++i) {
    waiting[i] = nodes[i].dep_count;
    for (NodeId d : graph.deps(nodes[i])) {
      if (d >= i) throw InvariantError(fmt::format("op graph node {} depends on later node {}", i, d));
      successors[d].push_back(i);
    }
  }
  // In-flight activities and the node each belongs to; a node ends when its last part ends.
  std::vector<sg::ActivityPtr> inflight;
  std::vector<NodeId> owner;
  std::vector<std::uint32_t> parts_left(n, 0);
  std::vector<NodeId> ready;
  for (NodeId i = 0; i < n; ++i)
    if (waiting[i] == 0) ready.push_back(i);
  std::size_t finished = 0;

  auto release = [&](NodeId i) {
    ++finished;
    for (NodeId s : successors[i])
      if (--waiting[s] == 0) ready.push_back(s);
  };
  auto finish = [&](NodeId i) {
    nodes[i].end = sg::Engine::get_clock();
    release(i);
  };
  while (finished < n) {
    // A compute node that is the only thing left to do runs as a plain sleep: exact, and what a
    // chain after its transfers costs without the general machinery.
    if (inflight.empty() && ready.size() == 1 && may_sleep(nodes[ready[0]])) {
      const NodeId i = ready.back();
      ready.pop_back();
      run_alone(nodes[i], sg::Engine::get_clock());
      release(i);
      continue;
    }
    while (!ready.empty()) {
      const NodeId i = ready.back();
      ready.pop_back();
      GraphNode& node = nodes[i];
      node.start = sg::Engine::get_clock();
      if (node.kind == GraphNode::Kind::compute) {
        check_on(node, "is off: cannot run");
        if (node.seconds <= 0) {
          finish(i);
          continue;
        }
        inflight.push_back(sg::Exec::init()->set_flops_amount(node.seconds * kEngineSpeed)->set_host(hosts_[node.engine])->start());
        owner.push_back(i);
        parts_left[i] = 1;
      } else {
        if (node.bytes <= 0) {
          finish(i);
          continue;
        }
        if (node.background && background_) {
          background_(node);
          finish(i);
          continue;
        }
        auto transfer = start_move_(*node.from, *node.to, node.bytes, node.request_size, node.overhead);
        for (auto& part : transfer.parts) {
          inflight.push_back(part);
          owner.push_back(i);
        }
        parts_left[i] = static_cast<std::uint32_t>(transfer.parts.size());
      }
    }
    if (inflight.empty()) {
      if (finished < n) throw InvariantError("op graph: nodes left that can never start (a dependency cycle?)");
      break;
    }
    ssize_t done = -1;
    try {
      done = sg::Activity::wait_any(inflight);
    } catch (const simgrid::HostFailureException&) {
      for (std::size_t k = 0; k < inflight.size(); ++k) {
        const GraphNode& node = nodes[owner[k]];
        if (node.kind == GraphNode::Kind::compute) check_on(node, "failed while running");
      }
      throw;
    }
    const NodeId i = owner[static_cast<std::size_t>(done)];
    inflight.erase(inflight.begin() + done);
    owner.erase(owner.begin() + done);
    if (--parts_left[i] == 0) finish(i);
  }
}

}  // namespace hetsim::sim
