#include "sim/engine/trace_replay_engine.hpp"

#include <simgrid/s4u.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <tuple>
#include <unordered_map>

#include "sim/core/error.hpp"
#include "sim/engine/actor_failure.hpp"
#include "sim/engine/ring_collective.hpp"
#include "sim/engine/simgrid_setup.hpp"
#include "sim/engine/transfer_network.hpp"
#include "workload/exec_trace/trace_graph.hpp"

namespace hetsim::sim {
namespace sg = simgrid::s4u;
using exec_trace::RankTrace;
using exec_trace::TraceOp;
using exec_trace::TraceOpKind;
using Graph = exec_trace::TraceGraph;

namespace {

/// Timer wake-ups land within SimGrid's timing precision (1e-9 s) of their deadline.
constexpr double kTimeEps = 1e-9;

/// Total length of the union of sorted-by-start intervals, merged in place.
double merge(std::vector<std::pair<double, double>>& iv) {
  std::sort(iv.begin(), iv.end());
  std::vector<std::pair<double, double>> out;
  for (const auto& x : iv) {
    if (!out.empty() && x.first <= out.back().second) out.back().second = std::max(out.back().second, x.second);
    else out.push_back(x);
  }
  iv = std::move(out);
  double sum = 0;
  for (const auto& x : iv) sum += x.second - x.first;
  return sum;
}

/// Length of the intersection of two merged interval lists.
double overlap(const std::vector<std::pair<double, double>>& a, const std::vector<std::pair<double, double>>& b) {
  double sum = 0;
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const double lo = std::max(a[i].first, b[j].first), hi = std::min(a[i].second, b[j].second);
    if (hi > lo) sum += hi - lo;
    if (a[i].second < b[j].second) ++i;
    else ++j;
  }
  return sum;
}

class ReplayRun {
 public:
  ReplayRun(const ReplayScenario& sc, ReplayOptions options) : sc_(sc), options_(options) {}

  ReplayRecords run() {
    const auto engine = make_simgrid_engine();
    auto* zone = sg::create_star_zone("replay");
    host_ = zone->create_host("ranks", 1e9);
    network_ = std::make_unique<TransferNetwork>(platform_of(sc_), zone);
    zone->seal();
    const int W = sc_.world_size;
    ranks_.resize(static_cast<std::size_t>(W));
    records_.iterations = sc_.iterations;
    for (int r = 0; r < W; ++r) {
      Rank& R = ranks_[static_cast<std::size_t>(r)];
      R.rank = r;
      const int t = sc_.trace_of_rank[static_cast<std::size_t>(r)];
      R.trace = &sc_.traces[static_cast<std::size_t>(t)];
      R.graph = &sc_.graphs[static_cast<std::size_t>(t)];
      R.tier = sc_.device_tier(r);
      R.mutex = sg::Mutex::create();
      R.cv = sg::ConditionVariable::create();
      R.rec.rank = r;
      R.rec.trace = R.trace->source;
    }
    for (int r = 0; r < W; ++r)
      sg::Actor::create(fmt::format("rank{}", r), host_, [this, r] { failure_.guard([&] { rank_loop(ranks_[static_cast<std::size_t>(r)]); }); });
    engine->run();
    failure_.rethrow();
    for (const Rank& R : ranks_)
      if (!R.finished) report_deadlock(R);
    for (const auto& [key, ch] : channels_)
      if (!ch.unreceived.empty()) {
        const Slot& s = *ch.unreceived.front();
        const Rank& R = ranks_[static_cast<std::size_t>(s.send_rank)];
        const TraceOp& op = op_of(R, s.send_op);
        throw InputError(fmt::format("{}: rank {} op id {} ({}) sent to rank {} (tag {}), which never receives it",
                                     R.trace->source, R.rank, op.id, op.name, op.peer, op.tag));
      }
    finish_records();
    return std::move(records_);
  }

 private:
  enum OpState : std::uint8_t { kWaiting = 0, kStarted = 1, kDone = 2 };
  struct Rank {
    int rank = 0;
    const RankTrace* trace = nullptr;
    const Graph* graph = nullptr;
    std::string tier;
    std::vector<std::uint32_t> pending;
    std::vector<std::uint8_t> state;
    std::vector<double> posted;  ///< when each communication op was posted
    std::size_t done = 0;
    // Ready ops are started and compute ops picked in trace order (lowest position first), so
    // that messages of one (source, destination, tag) match in program order, deterministically.
    std::priority_queue<std::uint32_t, std::vector<std::uint32_t>, std::greater<>> to_start, compute_ready;
    std::priority_queue<std::pair<double, std::uint32_t>, std::vector<std::pair<double, std::uint32_t>>, std::greater<>> held;
    std::vector<std::uint32_t> inbox;  ///< communication ops completed by helper actors
    long running = -1;
    double run_start = 0, run_end = 0, iter_start = 0;
    int iteration = 0;
    bool finished = false;
    std::unordered_map<std::string, std::size_t> group_seq;
    sg::MutexPtr mutex;
    sg::ConditionVariablePtr cv;
    std::vector<std::pair<double, double>> compute_iv, comm_iv;
    ReplayRankRecord rec;
  };
  struct Gathering {
    std::vector<std::pair<int, std::uint32_t>> arrived;  ///< (rank, op position)
    std::vector<int> members;
    Collective kind = Collective::none;
    double bytes = 0;
  };
  /// One message: its send, the receive matched to it (once posted), whether its bytes arrived.
  struct Slot {
    int send_rank = 0;
    std::uint32_t send_op = 0;
    int recv_rank = -1;
    std::uint32_t recv_op = 0;
    bool arrived = false;
  };
  /// The messages of one (source, destination, tag), in program order on both sides.
  struct Channel {
    std::deque<std::shared_ptr<Slot>> unreceived;          ///< sent, no receive posted yet
    std::deque<std::pair<int, std::uint32_t>> waiting;     ///< receives posted before their send
  };
  using P2pKey = std::tuple<int, int, std::int64_t>;  // (source, destination, tag)

  static double now() { return sg::Engine::get_clock(); }
  const TraceOp& op_of(const Rank& R, std::uint32_t i) const { return R.trace->ops[i]; }

  void reset(Rank& R) {
    R.pending = R.graph->indegree;
    R.state.assign(R.pending.size(), kWaiting);
    R.posted.assign(R.pending.size(), 0.0);
    R.done = 0;
    R.iter_start = now();
    for (std::size_t i = 0; i < R.pending.size(); ++i)
      if (R.pending[i] == 0) R.to_start.push(static_cast<std::uint32_t>(i));
  }

  void rank_loop(Rank& R) {
    reset(R);
    const std::size_t n = R.pending.size();
    std::vector<std::uint32_t> arrived;
    while (true) {
      while (!R.to_start.empty()) {
        const auto i = R.to_start.top();
        R.to_start.pop();
        start_op(R, i);
      }
      if (R.running < 0 && !R.compute_ready.empty()) {
        const auto i = R.compute_ready.top();
        R.compute_ready.pop();
        R.running = i;
        R.run_start = now();
        R.run_end = R.run_start + compute_time(op_of(R, i));
      }
      if (R.done == n) {
        if (++R.iteration < sc_.iterations) {
          reset(R);
          continue;
        }
        R.finished = true;
        R.rec.end = now();
        ++finished_;
        check_stall();
        return;
      }
      {
        std::unique_lock lock(*R.mutex);
        while (R.inbox.empty()) {
          double deadline = std::numeric_limits<double>::infinity();
          if (R.running >= 0) deadline = R.run_end;
          if (!R.held.empty()) deadline = std::min(deadline, R.held.top().first);
          if (stalled_) return;
          if (deadline == std::numeric_limits<double>::infinity()) {
            // Only a communication can end now: wait for one, unless none can ever come.
            ++waiting_forever_;
            check_stall();
            if (!stalled_) R.cv->wait(lock);
            --waiting_forever_;
            if (stalled_) return;
          } else {
            if (now() + kTimeEps >= deadline) break;
            R.cv->wait_until(lock, deadline);
          }
        }
        arrived.swap(R.inbox);
      }
      if (R.running >= 0 && now() + kTimeEps >= R.run_end) {
        const auto i = static_cast<std::uint32_t>(R.running);
        R.running = -1;
        R.compute_iv.emplace_back(R.run_start, now());
        span(R, op_of(R, i), ReplaySpan::kComputeTrack, R.run_start, now());
        complete(R, i);
      }
      while (!R.held.empty() && now() + kTimeEps >= R.held.top().first) {
        const auto i = R.held.top().second;
        R.held.pop();
        launch(R, i);
      }
      std::sort(arrived.begin(), arrived.end());
      for (auto i : arrived) {
        R.comm_iv.emplace_back(R.posted[i], now());
        span(R, op_of(R, i), ReplaySpan::kCommTrack, R.posted[i], now());
        complete(R, i);
      }
      arrived.clear();
    }
  }

  double compute_time(const TraceOp& op) const { return op.duration * sc_.time_scale[static_cast<std::size_t>(op.cls)]; }

  void span(const Rank& R, const TraceOp& op, int fallback_track, double start, double end) {
    if (!options_.timeline) return;
    records_.spans.push_back({R.rank, op.stream >= 0 ? op.stream : fallback_track, op.name, start, end});
  }

  void complete(Rank& R, std::uint32_t i) {
    if (R.state[i] == kDone) throw InvariantError(fmt::format("rank {}: op {} completed twice", R.rank, op_of(R, i).id));
    R.state[i] = kDone;
    ++R.done;
    ++R.rec.ops;
    for (auto s : R.graph->succ[i])
      if (--R.pending[s] == 0) R.to_start.push(s);
  }

  void start_op(Rank& R, std::uint32_t i) {
    R.state[i] = kStarted;
    const TraceOp& op = op_of(R, i);
    // host_issue: the recorded launch time (since the iteration began) is an earliest start.
    if (sc_.host_issue && op.issue >= 0 && now() + kTimeEps < R.iter_start + op.issue) {
      R.held.emplace(R.iter_start + op.issue, i);
      return;
    }
    launch(R, i);
  }

  void launch(Rank& R, std::uint32_t i) {
    const TraceOp& op = op_of(R, i);
    switch (op.kind) {
      case TraceOpKind::compute:
        // Zero time (host-side ops, metadata, memory nodes): no stream time, only ordering.
        if (compute_time(op) <= 0) complete(R, i);
        else R.compute_ready.push(i);
        return;
      case TraceOpKind::collective:
        R.posted[i] = now();
        arrive(R, i);
        return;
      case TraceOpKind::send:
      case TraceOpKind::recv:
        R.posted[i] = now();
        post_message(R, i);
        return;
    }
  }

  /// Declares the replay stalled when every unfinished rank waits for a communication and nothing
  /// is in flight; wakes them so that they return.
  void check_stall() {
    const int unfinished = sc_.world_size - finished_;
    if (unfinished == 0 || waiting_forever_ < unfinished || in_flight_ > 0 || stalled_) return;
    // A rank already handed a completion has not run yet to take it: it is not stuck.
    for (const Rank& other : ranks_)
      if (!other.finished && !other.inbox.empty()) return;
    stalled_ = true;
    for (Rank& other : ranks_) other.cv->notify_all();
  }

  /// Hands a finished communication op to its rank (called from helper actors, or inline).
  void deliver(int rank, std::uint32_t i) {
    Rank& R = ranks_[static_cast<std::size_t>(rank)];
    std::unique_lock lock(*R.mutex);
    R.inbox.push_back(i);
    R.cv->notify_all();
  }

  /// Collectives match across ranks by (group, sequence number within the group on each rank);
  /// the last member to arrive starts the ring, every member continues when it ends.
  void arrive(Rank& R, std::uint32_t i) {
    const TraceOp& op = op_of(R, i);
    const std::size_t seq = R.group_seq[op.group]++;
    auto key = std::make_pair(op.group, seq);
    Gathering& g = gatherings_[key];
    if (g.arrived.empty()) {
      g.kind = op.collective;
      if (op.group_ranks.empty()) {
        g.members.resize(static_cast<std::size_t>(sc_.world_size));  // group of unknown ranks: all of them
        for (int r = 0; r < sc_.world_size; ++r) g.members[static_cast<std::size_t>(r)] = r;
      } else {
        g.members = op.group_ranks;
        std::sort(g.members.begin(), g.members.end());
        g.members.erase(std::unique(g.members.begin(), g.members.end()), g.members.end());
        for (int m : g.members)
          if (m < 0 || m >= sc_.world_size)
            throw InputError(fmt::format("{}: rank {} op id {} ({}): group '{}' names rank {}; the replay has ranks 0-{}",
                                         R.trace->source, R.rank, op.id, op.name, op.group, m, sc_.world_size - 1));
      }
    } else if (g.kind != op.collective) {
      throw InputError(fmt::format("{}: rank {} op id {} ({}) is {} #{} of group '{}', but rank {} ran {} there: the "
                                   "ranks' traces disagree",
                                   R.trace->source, R.rank, op.id, op.name, to_string(op.collective), seq, op.group,
                                   g.arrived.front().first, to_string(g.kind)));
    }
    if (!std::binary_search(g.members.begin(), g.members.end(), R.rank))
      throw InputError(fmt::format("{}: rank {} op id {} ({}) joins group '{}', which does not hold rank {}",
                                   R.trace->source, R.rank, op.id, op.name, op.group, R.rank));
    g.bytes = std::max(g.bytes, op.bytes);
    g.arrived.emplace_back(R.rank, i);
    R.rec.collectives += 1;
    R.rec.collective_bytes += op.bytes;
    if (g.arrived.size() < g.members.size()) return;
    Gathering done = std::move(g);
    gatherings_.erase(key);
    const std::size_t record = records_.collectives.size();
    records_.collectives.push_back({op.group, seq, done.kind, done.bytes, static_cast<int>(done.members.size()), now(), now()});
    if (done.members.size() < 2) {
      for (const auto& [r, o] : done.arrived) deliver(r, o);
      return;
    }
    std::vector<std::string> tiers;
    for (int m : done.members) tiers.push_back(ranks_[static_cast<std::size_t>(m)].tier);
    std::vector<const std::string*> members;
    for (const auto& t : tiers) members.push_back(&t);
    FlowBatch batch;
    const double extra = add_ring(*network_, done.kind, members, done.bytes, batch);
    records_.flows += batch.size();
    auto arrived = std::make_shared<std::vector<std::pair<int, std::uint32_t>>>(std::move(done.arrived));
    ++in_flight_;
    batch.launch(*network_, host_, fmt::format("coll-{}-{}", op.group, seq), failure_, [this, arrived, extra, record] {
      sg::this_actor::sleep_for(extra);  // the ring's remaining step latencies (alpha-beta on an idle fabric)
      records_.collectives[record].end = now();
      for (const auto& [r, o] : *arrived) deliver(r, o);
      --in_flight_;
    });
  }

  /// Sends and receives match by (source, destination, tag), in program order. A send is eager,
  /// as NCCL's and ASTRA-sim's are: its transfer from the sender's device to the receiver's starts
  /// when it is posted, and it ends when the bytes are there; the receive matched to it ends when
  /// both it is posted and the bytes have arrived.
  void post_message(Rank& R, std::uint32_t i) {
    const TraceOp& op = op_of(R, i);
    if (op.peer < 0 || op.peer >= sc_.world_size)
      throw InputError(fmt::format("{}: rank {} op id {} ({}): {} rank {}; the replay has ranks 0-{}", R.trace->source,
                                   R.rank, op.id, op.name, op.kind == TraceOpKind::send ? "send to" : "receive from", op.peer,
                                   sc_.world_size - 1));
    const bool send = op.kind == TraceOpKind::send;
    Channel& ch = channels_[send ? P2pKey{R.rank, op.peer, op.tag} : P2pKey{op.peer, R.rank, op.tag}];
    if (!send) {
      if (ch.unreceived.empty()) {
        ch.waiting.emplace_back(R.rank, i);
        return;
      }
      const auto slot = ch.unreceived.front();
      ch.unreceived.pop_front();
      slot->recv_rank = R.rank;
      slot->recv_op = i;
      if (slot->arrived) deliver(R.rank, i);
      return;
    }
    R.rec.p2p += 1;
    R.rec.p2p_bytes += op.bytes;
    auto slot = std::make_shared<Slot>();
    slot->send_rank = R.rank;
    slot->send_op = i;
    if (!ch.waiting.empty()) {
      std::tie(slot->recv_rank, slot->recv_op) = ch.waiting.front();
      ch.waiting.pop_front();
    } else {
      ch.unreceived.push_back(slot);
    }
    if (op.peer == R.rank) {  // to itself: nothing crosses a link
      arrive_message(*slot);
      return;
    }
    auto t = std::make_shared<TransferNetwork::Transfer>(network_->start(R.tier, ranks_[static_cast<std::size_t>(op.peer)].tier, op.bytes));
    ++records_.flows;
    ++in_flight_;
    sg::Actor::create(fmt::format("msg-{}-{}", R.rank, op.peer), host_, [this, t, slot] {
      failure_.guard([&] {
        t->wait();
        arrive_message(*slot);
        --in_flight_;
      });
    });
  }

  void arrive_message(Slot& slot) {
    slot.arrived = true;
    deliver(slot.send_rank, slot.send_op);
    if (slot.recv_rank >= 0) deliver(slot.recv_rank, slot.recv_op);
  }

  /// Ops left that can never run: names the first rank's stuck op and why it waits.
  [[noreturn]] void report_deadlock(const Rank& R) const {
    std::size_t left = 0;
    long stuck = -1, waiting = -1;
    for (std::size_t i = 0; i < R.state.size(); ++i) {
      if (R.state[i] == kDone) continue;
      ++left;
      if (R.state[i] == kStarted && stuck < 0 && op_of(R, static_cast<std::uint32_t>(i)).kind != TraceOpKind::compute)
        stuck = static_cast<long>(i);
      if (waiting < 0) waiting = static_cast<long>(i);
    }
    const auto i = static_cast<std::uint32_t>(stuck >= 0 ? stuck : waiting);
    const TraceOp& op = op_of(R, i);
    std::string why;
    switch (op.kind) {
      case TraceOpKind::send: why = fmt::format("its send to rank {} (tag {}) has no matching receive", op.peer, op.tag); break;
      case TraceOpKind::recv: why = fmt::format("its receive from rank {} (tag {}) has no matching send", op.peer, op.tag); break;
      case TraceOpKind::collective: {
        std::string missing;
        for (const auto& [key, g] : gatherings_) {
          if (key.first != op.group) continue;
          for (int m : g.members)
            if (std::none_of(g.arrived.begin(), g.arrived.end(), [&](const auto& a) { return a.first == m; }))
              missing += (missing.empty() ? "" : ", ") + std::to_string(m);
          break;
        }
        why = fmt::format("its {} in group '{}' waits for ranks that never reach it ({})", to_string(op.collective), op.group,
                          missing.empty() ? "?" : missing);
        break;
      }
      case TraceOpKind::compute: why = "it waits for ops that never finish"; break;
    }
    throw InputError(fmt::format("{}: the replay deadlocked at {:.9g} s: rank {} op id {} ({}) never ran to its end: {}; "
                                 "{} of its {} ops left in iteration {}",
                                 R.trace->source, now(), R.rank, op.id, op.name, why, left, R.state.size(), R.iteration + 1));
  }

  void finish_records() {
    double makespan = 0;
    for (const Rank& R : ranks_) makespan = std::max(makespan, R.rec.end);
    records_.makespan = makespan;
    for (Rank& R : ranks_) {
      ReplayRankRecord rec = R.rec;
      rec.compute = merge(R.compute_iv);
      rec.comm = merge(R.comm_iv);
      rec.exposed_comm = rec.comm - overlap(R.comm_iv, R.compute_iv);
      rec.idle = std::max(0.0, makespan - rec.compute - rec.exposed_comm);
      records_.ranks.push_back(std::move(rec));
    }
  }

  const ReplayScenario& sc_;
  ReplayOptions options_;
  std::vector<Rank> ranks_;
  sg::Host* host_ = nullptr;
  std::unique_ptr<TransferNetwork> network_;
  std::map<std::pair<std::string, std::size_t>, Gathering> gatherings_;
  std::map<P2pKey, Channel> channels_;
  // Stall detection: ranks blocked with nothing that could wake them, and helper actors (ring
  // watchers, message transfers) still running. When every unfinished rank waits and no helper
  // runs, nothing can ever happen again: a deadlock, reported instead of waiting on SimGrid's own.
  int waiting_forever_ = 0, finished_ = 0, in_flight_ = 0;
  bool stalled_ = false;
  ReplayRecords records_;
  ActorFailure failure_;
};

}  // namespace

ReplayRecords run_replay(const ReplayScenario& scenario, ReplayOptions options) {
  return ReplayRun(scenario, options).run();
}

}  // namespace hetsim::sim
