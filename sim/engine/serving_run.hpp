#pragma once
// The serving engine's run (private to sim/engine): one run's platform, replica actors, arrivals
// and the cluster facade global policies act through. serving_engine.cpp runs it; serving_moves.cpp
// moves sequences and their KV between instances; serving_scaling.cpp starts and stops instances.
#include <simgrid/s4u.hpp>

#include <array>
#include <deque>
#include <functional>
#include <list>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "sim/core/error.hpp"
#include "sim/core/units.hpp"
#include "sim/engine/actor_failure.hpp"
#include "sim/engine/executor.hpp"
#include "sim/engine/replica.hpp"
#include "sim/engine/serving_engine.hpp"
#include "sim/engine/transfer_network.hpp"
#include "sim/serving/cluster_facade.hpp"
#include "sim/serving/sequence_pool.hpp"
#include "workload/arrivals.hpp"

namespace hetsim::sim::detail {
namespace sg = simgrid::s4u;

/// One serving run: the platform, one actor per replica and one for the arrivals (requests are
/// plain data), and the cluster facade global policies act through.
class ServingRun final : public serving::ClusterFacade {
 public:
  ServingRun(Scenario& sc, Recorder& recorder, EngineOptions options)
      : sc_(sc), recorder_(recorder), options_(options) {}

  EngineStats run();

  // serving::ClusterFacade
  double now() const override { return sg::Engine::get_clock(); }
  std::size_t instances() const override { return replicas_.size(); }
  serving::InstanceRole role(std::size_t i) const override { return sc_.replicas.at(i).role; }
  const std::string& pool(std::size_t i) const override { return sc_.replicas.at(i).pool; }
  serving::InstanceState state(std::size_t i) const override { return state_.at(i); }
  std::size_t count(serving::InstanceState s) const override { return in_state_[static_cast<std::size_t>(s)]; }
  std::optional<std::size_t> partner(std::size_t i) const override {
    const int p = sc_.replicas.at(i).partner;
    return p >= 0 ? std::optional<std::size_t>(static_cast<std::size_t>(p)) : std::nullopt;
  }
  policies::ReplicaLoad load(std::size_t i) const override { return replicas_.at(i)->load(); }
  bool can_hold(const policies::Sequence& seq, std::size_t i) const override {
    return state_.at(i) == serving::InstanceState::active && replicas_.at(i)->can_hold(seq);
  }
  std::string weight_source_problem(const WeightSource& source, std::size_t i) const override;
  bool start_instance(std::size_t i, const WeightSource& source) override;
  bool stop_instance(std::size_t i) override;
  void move_sequence(policies::Sequence& seq, std::size_t from, std::size_t to, MoveOptions options,
                     std::function<void()> done) override;
  using serving::ClusterFacade::set_timer;
  void set_timer(double at, std::function<void()> fn, std::function<bool()> idle) override;
  bool migrate(policies::Sequence& seq, std::size_t from, std::size_t to, MigrationOptions options) override;
  const std::vector<policies::Sequence*>& running(std::size_t i) const override { return replicas_.at(i)->running(); }
  const std::deque<policies::Sequence*>& waiting(std::size_t i) const override { return replicas_.at(i)->waiting(); }
  bool winding_down() const override { return source_done_ && working_ == 0; }

 private:
  /// One TP rank's share of a KV copy between instances: source rank, destination rank, bytes.
  struct KvFlow {
    std::size_t src, dst;
    double bytes;
  };
  /// `tokens` tokens of KV from instance plan `a`'s ranks to `b`'s.
  std::vector<KvFlow> kv_flows(const ReplicaPlan& a, const ReplicaPlan& b, std::int64_t tokens) const;
  /// Sends `flows` over the platform network, each with `setup`, and waits for all (in an actor).
  void send(const ReplicaPlan& a, const ReplicaPlan& b, const std::vector<KvFlow>& flows, double setup);
  void build_platform();
  // Elastic capacity (serving_scaling.cpp).
  /// The platform tiers instance `i`'s rank shards load from under `source` (one per TP rank),
  /// or the reason it cannot.
  std::vector<std::string> weight_origins(const WeightSource& source, std::size_t i, std::string& problem) const;
  /// Enters state `s` at now (records the event) and keeps the count of instances per state.
  void set_state(std::size_t i, serving::InstanceState s, ScalingRecord record);
  /// A draining instance that holds no work and has nothing crossing to or from it is stopped.
  void settle(std::size_t i);
  /// Whether instance `i` may take arrivals now.
  bool routable(std::size_t i) const { return state_[i] == serving::InstanceState::active; }
  /// Groups the replicas into fit classes and keeps the routers' fleet index current.
  void index_fleet();
  /// Sets class_fits_ for `seq` (one check per class); whether any class takes it.
  bool fit_classes(const policies::Sequence& seq);
  /// The router's plan for `req` (arriving as `seq`): from the fleet index when the router can
  /// and reads fresh state, else from every replica's load (or its last snapshot).
  policies::RoutePlan route(const Request& req, policies::Sequence& seq);
  /// Takes the snapshots of replica loads a router with a refresh period reads, at every multiple
  /// of the period at or before an arrival.
  void refresh_loop();
  void replica_loop(std::size_t i);
  /// Whether steps may run ahead of SimGrid's clock in this run: only when arrivals, timers and
  /// router snapshots are what can observe or change a replica's course, i.e. controllers that act
  /// only in their timers, no closed-loop clients (an end schedules an arrival) and no KV tier
  /// below device memory (copies contend on the network with everyone's).
  bool can_coalesce() const;
  /// How far replica `i` may run steps ahead of the clock: to the next time anything outside it
  /// can act on it or read it, i.e. the next arrival, router snapshot or controller timer that is
  /// not idle (none: never);
  /// not at all while it is not active or anything crosses the network (moves, cold starts).
  double horizon(std::size_t i) const;
  /// A step, arrival or move ended at `t` (exact): the run lasts at least until then.
  void reached(double t) { end_time_ = std::max(end_time_, t); }
  void source_loop();
  /// Issues `due.request` now: over-length policy, router, replica.
  void issue(workload::Issue due);
  /// Request `id` ended (completed, rejected or dropped) at `now`.
  void request_ended(std::int64_t id, double now);
  /// Stops the run once `now` (default: the clock) is past the simulated-time limit, naming what took it there.
  /// `what` describes the activity (called only when the limit is passed: this runs every step).
  template <class Describe>
  static void check_clock(const Describe& what, double now = sg::Engine::get_clock()) {
    if (now > units::kMaxSimulatedSeconds) [[unlikely]]
      throw InputError(fmt::format("simulated time reached {:g} s, beyond the {:g} s limit, after {}: a bandwidth or "
                                   "compute rate near zero?", now, units::kMaxSimulatedSeconds, what()));
  }
  void wake(std::size_t i) {
    if (!idle_[i]) return;
    idle_[i] = 0;
    ++working_;
    actors_[i]->resume();
  }
  void wake_all() {
    for (std::size_t i = 0; i < replicas_.size(); ++i) wake(i);
  }
  /// Nothing more can happen: arrivals are over, no move or timer is pending and every replica is
  /// idle (a working one could still hand a sequence to an idle one).
  bool quiescent() const { return source_done_ && pending_ == 0 && working_ == 0; }
  /// At quiescence, marks the run done and wakes every idle replica so that its actor ends.
  bool end_if_quiescent() {
    if (!quiescent()) return false;
    done_ = true;
    wake_all();
    return true;
  }

  Scenario& sc_;
  Recorder& recorder_;
  std::optional<KvTierWindows> kv_windows_;  ///< kv_tiers.csv, when written
  EngineOptions options_;
  bool coalesce_ = false;
  double end_time_ = 0;
  policies::SequencePool sequences_;  ///< the sequences in flight
  std::vector<std::unique_ptr<Replica>> replicas_;
  sg::Host* frontend_ = nullptr;
  std::vector<sg::Host*> hosts_;
  std::unique_ptr<TransferNetwork> network_;
  std::unique_ptr<Executor> executor_;
  std::vector<EngineId> engine_ids_;
  std::vector<EngineId> offload_engine_ids_;  ///< per replica, with offload over the platform: its node host's engine
  std::vector<sg::ActorPtr> actors_;
  std::unique_ptr<policies::FleetIndex> fleet_;
  std::vector<std::size_t> class_first_;  ///< a replica of each fit class, that answers for it
  std::vector<char> class_fits_;          ///< per fit class, for the arriving request
  std::vector<policies::ReplicaLoad> loads_;  ///< routing input for routers without a fast path
  std::vector<policies::ReplicaLoad> snapshot_;  ///< replica loads at the last refresh (policies.router.refresh)
  double next_snapshot_ = std::numeric_limits<double>::infinity();  ///< when the next refresh reads them
  std::vector<char> idle_;
  std::vector<serving::InstanceState> state_;  ///< per instance (all active unless a controller scales)
  std::array<std::size_t, 4> in_state_{};  ///< instances per InstanceState
  std::vector<int> crossing_;   ///< per instance: moves and migrations in flight from or to it
  std::vector<double> since_;   ///< per instance: when it entered its state
  bool source_done_ = false;
  bool reactive_ = false;  ///< arrivals depend on request ends (closed loop)
  sg::MutexPtr source_lock_;
  sg::ConditionVariablePtr ends_;  ///< notified when a request ends, for a reactive source
  int pending_ = 0;  ///< sequence moves and timers in flight
  /// A controller timer not yet due.
  struct PendingTimer {
    double at;
    std::function<void()> fn;
    std::function<bool()> idle;  ///< empty: never idle
    bool own_actor = false;      ///< due before the timer actor's wake-up when set: fired by an actor of its own
  };
  using TimerIt = std::list<PendingTimer>::iterator;
  std::list<PendingTimer> timers_;  ///< in the order they were set
  /// When the timer actor wakes next: +inf when there is none, -inf while it fires timers.
  double timer_wake_ = std::numeric_limits<double>::infinity();
  /// The timer actor: fires the earliest pending timer, in the order set among equal times, until
  /// none is left (one actor for every look, not one per look: creating actors dominated runs
  /// with a 50 ms controller).
  void timer_loop();
  /// Runs pending timer `t` now and forgets it.
  void fire(TimerIt t);
  std::size_t working_ = 0;  ///< replica actors not suspended for lack of work
  bool done_ = false;        ///< nothing more can happen; replica actors end
  ActorFailure failure_;
  EngineStats stats_;
};

}  // namespace hetsim::sim::detail
