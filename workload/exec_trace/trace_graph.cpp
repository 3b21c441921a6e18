#include "workload/exec_trace/trace_graph.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "sim/core/error.hpp"

namespace hetsim::exec_trace {

TraceGraph build_trace_graph(const RankTrace& t) {
  const std::size_t n = t.ops.size();
  std::unordered_map<std::uint64_t, std::uint32_t> index;
  index.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    if (!index.emplace(t.ops[i].id, static_cast<std::uint32_t>(i)).second)
      throw InputError(fmt::format("{}: op id {} appears twice", t.source, t.ops[i].id));
  TraceGraph g;
  g.succ.resize(n);
  g.indegree.assign(n, 0);
  std::unordered_map<int, std::uint32_t> last_on_stream;
  std::vector<std::uint32_t> preds;
  for (std::size_t i = 0; i < n; ++i) {
    const TraceOp& op = t.ops[i];
    preds.clear();
    for (auto d : op.deps) {
      const auto it = index.find(d);
      if (it == index.end())
        throw InputError(fmt::format("{}: op id {} ({}) depends on op id {}, which the trace does not hold", t.source, op.id,
                                     op.name, d));
      if (it->second == i) throw InputError(fmt::format("{}: op id {} ({}) depends on itself", t.source, op.id, op.name));
      preds.push_back(it->second);
    }
    // Ops of one stream run in the order recorded.
    if (op.stream >= 0) {
      if (const auto it = last_on_stream.find(op.stream); it != last_on_stream.end()) preds.push_back(it->second);
      last_on_stream[op.stream] = static_cast<std::uint32_t>(i);
    }
    std::sort(preds.begin(), preds.end());
    preds.erase(std::unique(preds.begin(), preds.end()), preds.end());
    for (auto p : preds) g.succ[p].push_back(static_cast<std::uint32_t>(i));
    g.indegree[i] = static_cast<std::uint32_t>(preds.size());
  }
  // Kahn's algorithm: an op left over lies on (or behind) a cycle and could never run.
  std::vector<std::uint32_t> left = g.indegree, ready;
  for (std::size_t i = 0; i < n; ++i)
    if (left[i] == 0) ready.push_back(static_cast<std::uint32_t>(i));
  std::size_t seen = 0;
  while (!ready.empty()) {
    const auto i = ready.back();
    ready.pop_back();
    ++seen;
    for (auto s : g.succ[i])
      if (--left[s] == 0) ready.push_back(s);
  }
  if (seen != n)
    for (std::size_t i = 0; i < n; ++i)
      if (left[i] != 0)
        throw InputError(fmt::format("{}: op id {} ({}) waits on a dependency cycle, so it could never run (Chakra "
                                     "traces converted from PyTorch put parent ops in ctrl_deps: replay.ctrl_deps: false "
                                     "orders by data_deps only, as Chakra's own feeder does)",
                                     t.source, t.ops[i].id, t.ops[i].name));
  return g;
}

}  // namespace hetsim::exec_trace
