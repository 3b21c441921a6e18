#include "workload/exec_trace/kineto_deps.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

namespace hetsim::exec_trace::kineto {

std::vector<std::vector<std::size_t>> sync_dependencies(const std::vector<LaunchedOp>& ops,
                                                        const std::vector<SyncPoint>& syncs) {
  std::vector<std::vector<std::size_t>> deps(ops.size());
  if (syncs.empty() || ops.empty()) return deps;
  std::set<int> all_streams;
  for (const auto& op : ops) all_streams.insert(op.stream);

  // Ops in launch order (ties: input order, which is the trace's order).
  std::vector<std::size_t> by_launch(ops.size());
  std::iota(by_launch.begin(), by_launch.end(), std::size_t{0});
  std::stable_sort(by_launch.begin(), by_launch.end(), [&](std::size_t a, std::size_t b) { return ops[a].launch < ops[b].launch; });

  // Two sweeps over time. A sync's waited set is the last op launched on each waited stream before
  // its capture time; it takes effect at its release time. Process captures in capture order and
  // releases in release order, interleaved with the launches.
  struct Pending {
    double release;
    std::size_t sync;
    std::map<int, std::size_t> waited;  // stream -> last op launched on it before the capture
  };
  std::vector<std::size_t> by_capture(syncs.size());
  std::iota(by_capture.begin(), by_capture.end(), std::size_t{0});
  std::stable_sort(by_capture.begin(), by_capture.end(), [&](std::size_t a, std::size_t b) { return syncs[a].capture < syncs[b].capture; });

  std::map<int, std::size_t> last_launched;  // stream -> last op launched so far
  std::vector<Pending> captured;             // waiting for their release
  std::map<int, std::map<int, std::size_t>> owed;  // stream -> (waited stream -> op) for its next launch
  std::size_t next_capture = 0;

  auto capture_until = [&](double t) {
    // Called before the launches at time t are recorded: a sync captured at t waited for the
    // launches strictly before t.
    while (next_capture < by_capture.size() && syncs[by_capture[next_capture]].capture <= t) {
      const SyncPoint& s = syncs[by_capture[next_capture]];
      Pending p{s.release, by_capture[next_capture], {}};
      if (s.waited_streams.empty()) {
        p.waited = last_launched;
      } else {
        for (int w : s.waited_streams)
          if (auto it = last_launched.find(w); it != last_launched.end()) p.waited.emplace(w, it->second);
      }
      if (!p.waited.empty()) captured.push_back(std::move(p));
      ++next_capture;
    }
  };
  auto release_until = [&](double t) {
    // Releases at time <= t apply to launches at t (an op launched as the call returns follows it).
    for (auto it = captured.begin(); it != captured.end();) {
      if (it->release > t) {
        ++it;
        continue;
      }
      const SyncPoint& s = syncs[it->sync];
      auto owe = [&](int stream) {
        auto& o = owed[stream];
        for (const auto& [w, op] : it->waited) {
          if (w == stream) continue;  // the stream's own order covers it
          auto cur = o.find(w);
          // Keep the later of two waited ops on one stream: it implies the earlier one.
          if (cur == o.end() || ops[op].launch >= ops[cur->second].launch) o[w] = op;
        }
      };
      if (s.consumer < 0) {
        for (int st : all_streams) owe(st);
      } else {
        owe(s.consumer);
      }
      it = captured.erase(it);
    }
  };

  for (std::size_t i : by_launch) {
    const double t = ops[i].launch;
    capture_until(t);
    release_until(t);
    if (auto it = owed.find(ops[i].stream); it != owed.end()) {
      for (const auto& [w, op] : it->second) deps[i].push_back(op);
      owed.erase(it);
    }
    last_launched[ops[i].stream] = i;
  }
  for (auto& d : deps) {
    std::sort(d.begin(), d.end());
    d.erase(std::unique(d.begin(), d.end()), d.end());
  }
  return deps;
}

}  // namespace hetsim::exec_trace::kineto
