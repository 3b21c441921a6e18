#pragma once
// A step (serving) or an iteration slice (training) as a small DAG the executor runs:
//  - compute nodes: a chain of ops run back to back on one engine with no outside dependency,
//    already priced by the cost model, so the chain is ONE timed activity (the fast path);
//  - move nodes: bytes that cross the platform from one tier to another (KV swap, P/D handoff,
//    offload, collectives on the network), run as contended transfers.
// Nodes are added in a topological order: a node depends only on nodes added before it. The
// vectors are reused between steps (clear() keeps their capacity), so building a graph on the hot
// path allocates nothing.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hetsim {

/// An engine of the run as the executor knows it (index into the executor's engines).
using EngineId = std::uint32_t;
using NodeId = std::uint32_t;

struct GraphNode {
  enum class Kind : std::uint8_t { compute, move };
  Kind kind = Kind::compute;
  std::string_view name;           ///< static storage, e.g. "step", "kv_swap_out"
  EngineId engine = 0;             ///< compute: where it runs
  double seconds = 0;              ///< compute: priced duration of the chain
  const std::string* from = nullptr;  ///< move: platform tier names (owned by the caller, outlive the run)
  const std::string* to = nullptr;
  double bytes = 0;                ///< move
  double request_size = 1 << 20;   ///< move: bytes per piece (block devices are slower in small requests)
  double overhead = 0;             ///< move: seconds of per-copy setup and submission beyond bytes / bandwidth
  bool background = false;         ///< move: started, then left to finish on its own (nothing waits for it)
  std::uint32_t first_dep = 0, dep_count = 0;  ///< range in OpGraph::deps
  // Filled in by the executor:
  double start = -1, end = -1;
};

class OpGraph {
 public:
  void clear() {
    nodes_.clear();
    deps_.clear();
  }
  NodeId add_compute(std::string_view name, EngineId engine, double seconds, std::span<const NodeId> deps = {}) {
    GraphNode n;
    n.kind = GraphNode::Kind::compute;
    n.name = name;
    n.engine = engine;
    n.seconds = seconds;
    return add(n, deps);
  }
  NodeId add_move(std::string_view name, const std::string& from, const std::string& to, double bytes,
                  std::span<const NodeId> deps = {}, double request_size = 1 << 20, double overhead = 0) {
    GraphNode n;
    n.kind = GraphNode::Kind::move;
    n.name = name;
    n.from = &from;
    n.to = &to;
    n.bytes = bytes;
    n.request_size = request_size;
    n.overhead = overhead;
    return add(n, deps);
  }
  std::span<const NodeId> deps(const GraphNode& n) const { return {deps_.data() + n.first_dep, n.dep_count}; }
  std::vector<GraphNode>& nodes() { return nodes_; }
  const std::vector<GraphNode>& nodes() const { return nodes_; }
  std::size_t size() const { return nodes_.size(); }
  bool empty() const { return nodes_.empty(); }

 private:
  NodeId add(GraphNode n, std::span<const NodeId> deps) {
    n.first_dep = static_cast<std::uint32_t>(deps_.size());
    n.dep_count = static_cast<std::uint32_t>(deps.size());
    deps_.insert(deps_.end(), deps.begin(), deps.end());
    nodes_.push_back(n);
    return static_cast<NodeId>(nodes_.size() - 1);
  }
  std::vector<GraphNode> nodes_;
  std::vector<NodeId> deps_;
};

}  // namespace hetsim
