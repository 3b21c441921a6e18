#include "sim/engine/serving_engine.hpp"

#include <simgrid/s4u.hpp>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <optional>

#include "sim/core/error.hpp"
#include "sim/core/interrupt.hpp"
#include "sim/core/units.hpp"
#include "sim/engine/executor.hpp"
#include "sim/engine/replica.hpp"
#include "sim/engine/actor_failure.hpp"
#include "sim/engine/simgrid_setup.hpp"
#include "sim/engine/transfer_network.hpp"
#include "sim/serving/cluster_facade.hpp"
#include "sim/serving/sequence_pool.hpp"
#include "workload/arrivals.hpp"

namespace hetsim::sim {
namespace sg = simgrid::s4u;

namespace {

/// One serving run: the platform, one actor per replica and one for the arrivals (requests are
/// plain data), and the cluster facade global policies act through.
class ServingRun final : public serving::ClusterFacade {
 public:
  ServingRun(Scenario& sc, Recorder& recorder, EngineOptions options)
      : sc_(sc), recorder_(recorder), options_(options) {}

  EngineStats run() {
    const auto engine = make_simgrid_engine();
    build_platform();
    for (std::size_t i = 0; i < sc_.replicas.size(); ++i)
      replicas_.push_back(std::make_unique<Replica>(static_cast<int>(i), sc_.replicas[i], sc_.model, sc_.max_model_len,
                                                    recorder_, &sc_.controllers));
    // kv_tiers.csv, beside step_windows.csv, for caching KV managers with tiers to report.
    if (recorder_.info().output.steps != StepOutput::none &&
        std::any_of(sc_.replicas.begin(), sc_.replicas.end(), [](const ReplicaPlan& p) { return !p.kv->tier_stats().empty(); })) {
      kv_windows_.emplace(recorder_.info().output.step_window);
      for (auto& r : replicas_) r->report_kv_tiers(&*kv_windows_);
    }
    actors_.resize(replicas_.size());
    index_fleet();
    idle_.assign(replicas_.size(), 0);
    working_ = replicas_.size();
    for (auto& c : sc_.controllers) c->attach(*this);
    // Closed-loop clients issue their next request when one ends: the source waits on `ends_`.
    reactive_ = sc_.arrivals->reacts_to_ends();
    coalesce_ = options_.coalesce && can_coalesce();
    source_lock_ = sg::Mutex::create();
    ends_ = sg::ConditionVariable::create();
    if (reactive_ || sc_.router->observes_ends())
      for (auto& r : replicas_) r->on_complete([this](std::int64_t id, double end) { request_ended(id, end); });
    for (auto& r : replicas_) r->on_release([this](policies::Sequence& seq) { sequences_.release(seq); });
    for (std::size_t i = 0; i < replicas_.size(); ++i)
      actors_[i] = sg::Actor::create(fmt::format("replica-{}", i), hosts_[i], [this, i] { failure_.guard([&] { replica_loop(i); }); });
    sg::Actor::create("source", frontend_, [this] { failure_.guard([&] { source_loop(); }); });
    if (sc_.router_refresh > 0) {
      for (const auto& r : replicas_) snapshot_.push_back(r->load());  // as at time 0, before any arrival
      sg::Actor::create("router-refresh", frontend_, [this] { failure_.guard([&] { refresh_loop(); }); })->daemonize();
    }
    engine->run();
    failure_.rethrow();
    // SimGrid returns from a deadlock (activities that can never complete) as from a normal end.
    if (!done_)
      throw InvariantError(fmt::format("the simulation stopped at {:g} s with work left ({} of {} replicas working, {} "
                                       "moves or timers pending, arrivals {}): activities that can never complete",
                                       sg::Engine::get_clock(), working_, replicas_.size(), pending_,
                                       source_done_ ? "over" : "not over"));
    for (auto& r : replicas_) r->check_drained();
    for (const auto& plan : sc_.replicas) recorder_.add_kv_tiers(plan.kv->tier_stats());
    recorder_.finish(end_time_);
    if (kv_windows_) {
      for (auto& r : replicas_) r->close_kv_window();
      recorder_.write_file("kv_tiers.csv", kv_windows_->csv());
    }
    stats_.peak_sequences = static_cast<std::int64_t>(sequences_.capacity());
    return stats_;
  }

  // serving::ClusterFacade
  double now() const override { return sg::Engine::get_clock(); }
  std::size_t instances() const override { return replicas_.size(); }
  serving::InstanceRole role(std::size_t i) const override { return sc_.replicas.at(i).role; }
  policies::ReplicaLoad load(std::size_t i) const override { return replicas_.at(i)->load(); }
  bool can_hold(const policies::Sequence& seq, std::size_t i) const override { return replicas_.at(i)->can_hold(seq); }
  void move_sequence(policies::Sequence& seq, std::size_t from, std::size_t to, MoveOptions options,
                     std::function<void()> done) override;
  void set_timer(double at, std::function<void()> fn) override;
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
  /// Whether steps may run ahead of SimGrid's clock in this run: only when the next arrival is
  /// the one thing that can change a replica's course, i.e. no global policy (hooks, moves,
  /// timers), no closed-loop clients (an end schedules an arrival) and no KV tier below device
  /// memory (copies contend on the network with everyone's).
  bool can_coalesce() const;
  /// The next time anything outside a replica can act on it: the next arrival (none: never).
  double horizon() const;
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
  std::vector<sg::ActorPtr> actors_;
  std::unique_ptr<policies::FleetIndex> fleet_;
  std::vector<std::size_t> class_first_;  ///< a replica of each fit class, that answers for it
  std::vector<char> class_fits_;          ///< per fit class, for the arriving request
  std::vector<policies::ReplicaLoad> loads_;  ///< routing input for routers without a fast path
  std::vector<policies::ReplicaLoad> snapshot_;  ///< replica loads at the last refresh (policies.router.refresh)
  std::vector<char> idle_;
  bool source_done_ = false;
  bool reactive_ = false;  ///< arrivals depend on request ends (closed loop)
  sg::MutexPtr source_lock_;
  sg::ConditionVariablePtr ends_;  ///< notified when a request ends, for a reactive source
  int pending_ = 0;  ///< sequence moves and timers in flight
  std::size_t working_ = 0;  ///< replica actors not suspended for lack of work
  bool done_ = false;        ///< nothing more can happen; replica actors end
  ActorFailure failure_;
  EngineStats stats_;
};

void ServingRun::build_platform() {
  // Actor hosts in a star zone (no routes: they only compute), beside one platform network of all
  // node instances and the cluster fabric: every tier of the run can reach every other.
  auto* zone = sg::create_star_zone("cluster");
  frontend_ = zone->create_host("frontend", 1e9);
  for (std::size_t i = 0; i < sc_.replicas.size(); ++i) hosts_.push_back(zone->create_host(fmt::format("replica-{}", i), 1e9));
  network_ = std::make_unique<TransferNetwork>(platform_of(sc_), zone);
  // Moves name platform tiers as "<node prefix><tier>".
  auto start_move = [this](const std::string& from, const std::string& to, double bytes, double request_size, double overhead) {
    return network_->start(from, to, bytes, request_size, overhead);
  };
  // Compute engines (one per replica; its TP group runs in lockstep) in a zone without routes.
  auto* engine_zone = sg::create_empty_zone("engines");
  engine_zone->set_parent(zone);
  executor_ = std::make_unique<Executor>(engine_zone, start_move);
  // Background copies (KV written down to slower tiers) run to completion in a daemon actor of
  // their own: they take link bandwidth from later copies, but no step or the run's end waits.
  executor_->set_background_sink([this](const GraphNode& m) {
    sg::Actor::create("kv-background", frontend_,
                      [this, from = *m.from, to = *m.to, bytes = m.bytes, size = m.request_size, overhead = m.overhead] {
                        network_->start(from, to, bytes, size, overhead).wait();
                      })
        ->daemonize();
  });
  for (std::size_t i = 0; i < sc_.replicas.size(); ++i) engine_ids_.push_back(executor_->add_engine(fmt::format("replica-{}.engine", i)));
  engine_zone->seal();
  zone->seal();
}

bool ServingRun::can_coalesce() const {
  // Snapshots read replicas at refresh times between arrivals, which steps run ahead would pass.
  if (reactive_ || !sc_.controllers.empty() || sc_.router_refresh > 0) return false;
  return std::all_of(sc_.replicas.begin(), sc_.replicas.end(), [](const ReplicaPlan& p) { return p.kv->store().tiers() == 1; });
}

double ServingRun::horizon() const {
  if (sc_.arrivals->done()) return std::numeric_limits<double>::infinity();
  const auto due = sc_.arrivals->next_time();
  return due ? *due : -std::numeric_limits<double>::infinity();
}

void ServingRun::replica_loop(std::size_t i) {
  // Coalescing (issue: one SimGrid event per step even when nobody could observe it): in a run
  // where only arrivals can change a replica's course, steps that start and end before the next
  // arrival run here, back to back, without an event; the step that crosses it is an event, so the
  // router sees every replica as it would be at that time. Times are exact sums either way, and
  // the recorder orders what it writes by time, so results are byte-identical with coalescing off.
  Replica& replica = *replicas_[i];
  OpGraph graph;
  while (true) {
    if (!replica.has_work()) {
      --working_;
      if (done_ || end_if_quiescent()) return;
      idle_[i] = 1;
      sg::this_actor::suspend();
      continue;
    }
    // Pure-decode steps that nothing could change run at once, and the one that reaches the next
    // arrival is planned without the scheduler (Replica::run_steady_decodes).
    Replica::SteadyRun steady;
    if (coalesce_ && executor_->engine_on(engine_ids_[i])) {
      steady = replica.run_steady_decodes(horizon(), engine_ids_[i], graph);
      stats_.events += steady.ahead;
      stats_.steady_steps += steady.ahead + (steady.planned ? 1 : 0);
      if (steady.ahead > 0) reached(replica.free_at());
      if (steady.ahead > 0 && !steady.planned) {
        interrupt::check();
        continue;
      }
    }
    const double start = replica.free_at();
    if (!steady.planned) replica.plan_step(start, engine_ids_[i], graph);
    if (steady.planned || !(coalesce_ && executor_->try_run_ahead(graph, start, horizon()))) {
      executor_->run(graph, start);
      ++stats_.engine_events;
      recorder_.release_before(sg::Engine::get_clock());
    }
    // The step ends when all of it has: copies that overlap its compute (write-through) may end last.
    double end = 0;
    for (const GraphNode& n : graph.nodes()) end = std::max(end, n.end);
    check_clock([&] { return fmt::format("replica {}'s step from {:g} s", i, start); }, end);
    if (steady.planned)
      replica.end_steady_step(end);
    else
      replica.end_step(graph, end);
    reached(end);
    ++stats_.events;
    // Ctrl-C stops a long simulation here, between steps: failure_.guard() keeps the Interrupted as the
    // run's failure and ends every actor, and the CLI removes the unfinished result folder.
    interrupt::check();
  }
}

void ServingRun::source_loop() {
  workload::Arrivals& arrivals = *sc_.arrivals;
  // Only a closed loop waits on `ends_` (and so needs the lock). The lock is released explicitly
  // at the end: unlocking is a simcall, and an actor killed inside one from a destructor (another
  // actor failed meanwhile) would end the process instead of unwinding.
  std::unique_lock lock(*source_lock_, std::defer_lock);
  if (reactive_) lock.lock();
  while (!arrivals.done()) {
    const auto due = arrivals.next_time();
    if (!due) {
      ends_->wait(lock);  // closed loop: every client waits for a response
      continue;
    }
    if (*due > sg::Engine::get_clock()) {
      // Open-loop times are fixed in advance: sleep until the next. A closed loop waits for the
      // due time or a request's end, whichever comes first, since an end can schedule an earlier
      // issue (a shorter think time); after an end it looks again.
      if (!reactive_)
        sg::this_actor::sleep_until(*due);
      else if (ends_->wait_until(lock, *due) == std::cv_status::no_timeout)
        continue;
    }
    issue(arrivals.pop());
  }
  source_done_ = true;
  end_if_quiescent();
  if (lock.owns_lock()) lock.unlock();
}

void ServingRun::issue(workload::Issue due) {
  // An open loop issues at the exact due time (the clock reached it by differences, maybe an ulp off).
  const double now = reactive_ ? sg::Engine::get_clock() : due.time;
  reached(now);
  recorder_.release_before(now);
  Request& req = due.request;
  req.arrival = now;
  ++stats_.events;
  const serving::OverLength::Outcome outcome = sc_.over_length.apply(req);
  const ArrivalFacts facts{.client = due.client,
                           .think = due.think,
                           .clipped = outcome.clipped,
                           .original_prompt_tokens = outcome.original_prompt_tokens,
                           .original_output_tokens = outcome.original_output_tokens};
  if (outcome.dropped) {
    recorder_.on_drop(req, now, outcome.reason, facts);
    request_ended(req.id, now);
    return;
  }
  recorder_.on_arrival(req, now, facts);
  policies::Sequence& seq = sequences_.acquire();
  seq.id = req.id;
  seq.arrival = now;
  seq.prompt_tokens = req.prompt_tokens;
  seq.output_tokens = req.output_tokens;
  seq.tenant = req.tenant;
  seq.priority = req.priority;
  if (!req.hash_ids.empty() && req.hash_block_tokens > 0) {
    // Its content identity, for prefix caching: the prompt, and the output where the workload
    // knows it (a conversation's next turn holds it); never past either (over_length may clip).
    seq.content_ids.assign(req.hash_ids.begin(), req.hash_ids.end());
    seq.content_unit = req.hash_block_tokens;
    seq.content_tokens = std::min({req.hash_tokens, req.prompt_tokens + (outcome.clipped ? 0 : req.output_tokens),
                                   static_cast<std::int64_t>(req.hash_ids.size()) * req.hash_block_tokens});
  }
  // Routers choose among the replicas that take arrivals and could ever hold the request (in a
  // mixed fleet a long request may fit only the larger devices); if none can, replica 0 rejects it.
  const bool any_fits = fit_classes(seq);
  const policies::RoutePlan plan = any_fits ? route(req, seq) : policies::RoutePlan{};
  const std::size_t target = plan.instance;
  if (target >= replicas_.size() || (any_fits && !class_fits_[fleet_->class_of(target)]))
    throw InvariantError(fmt::format("router chose replica {} of {}, which cannot hold request {}", target,
                                     replicas_.size(), req.id));
  if (plan.decode && *plan.decode >= replicas_.size())
    throw InvariantError(fmt::format("router chose decode replica {} of {}", *plan.decode, replicas_.size()));
  seq.decode_instance = plan.decode ? static_cast<int>(*plan.decode) : -1;
  if (replicas_[target]->accept(seq, now)) {
    for (auto& c : sc_.controllers) c->on_arrival(seq, target);
    wake(target);
  } else {
    sequences_.release(seq);
    request_ended(req.id, now);
  }
}

void ServingRun::index_fleet() {
  // A request fits every replica of a class or none: the class is the role's taking arrivals and
  // what Replica::misfit reads. Classes are numbered in order of first appearance.
  std::map<std::pair<bool, Replica::FitKey>, std::size_t> classes;
  std::vector<std::size_t> class_of(replicas_.size());
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    const auto [it, added] =
        classes.try_emplace({serving::takes_arrivals(sc_.replicas[i].role), replicas_[i]->fit_key()}, classes.size());
    if (added) class_first_.push_back(i);
    class_of[i] = it->second;
  }
  class_fits_.assign(classes.size(), 0);
  fleet_ = std::make_unique<policies::FleetIndex>(std::move(class_of));
  for (std::size_t i = 0; i < replicas_.size(); ++i)
    replicas_[i]->on_outstanding([this, i](std::int64_t n) { fleet_->set_outstanding(i, n); });
}

bool ServingRun::fit_classes(const policies::Sequence& seq) {
  bool any = false;
  for (std::size_t c = 0; c < class_first_.size(); ++c) {
    const std::size_t i = class_first_[c];
    class_fits_[c] = serving::takes_arrivals(sc_.replicas[i].role) && replicas_[i]->misfit(seq) == Replica::Misfit::none;
    any = any || class_fits_[c];
  }
  return any;
}

policies::RoutePlan ServingRun::route(const Request& req, policies::Sequence& seq) {
  const bool stale = sc_.router_refresh > 0;
  if (!stale)
    if (auto plan = sc_.router->plan_indexed(req, *fleet_, class_fits_)) return *plan;
  const bool probe = sc_.router->reads_cached_prefix();
  loads_.resize(replicas_.size());
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    loads_[i] = stale ? snapshot_[i] : replicas_[i]->load();
    loads_[i].role = sc_.replicas[i].role;
    loads_[i].can_fit = class_fits_[fleet_->class_of(i)];
    if (probe && loads_[i].can_fit) loads_[i].cached_tokens = replicas_[i]->cached_prefix_tokens(seq);
  }
  return sc_.router->plan(req, loads_);
}

void ServingRun::refresh_loop() {
  // Snapshot k is taken at k x period; snapshot 0 is the state before anything ran. An open
  // loop's issue times are known in advance, so the loop skips to the last multiple at or before
  // the next one (nothing reads the snapshots in between); a closed loop's next issue can come
  // earlier (after an end), so it wakes at each. An arrival at exactly k x period may be routed
  // before or after snapshot k is taken: deterministic, but either, as for a real scraper.
  const double period = sc_.router_refresh;
  for (double k = 1; !sc_.arrivals->done();) {
    const double at = k * period;
    if (at > now()) sg::this_actor::sleep_until(at);
    for (std::size_t i = 0; i < replicas_.size(); ++i) snapshot_[i] = replicas_[i]->load();
    double next = k + 1;
    if (!reactive_ && !sc_.arrivals->done())
      if (const auto due = sc_.arrivals->next_time()) next = std::max(next, std::floor(*due / period));
    k = next;
  }
}

void ServingRun::request_ended(std::int64_t id, double now) {
  if (sc_.router->observes_ends()) sc_.router->on_end(id);
  if (!reactive_) return;
  sc_.arrivals->on_end(id, now);
  ends_->notify_one();
}

std::vector<ServingRun::KvFlow> ServingRun::kv_flows(const ReplicaPlan& a, const ReplicaPlan& b, std::int64_t tokens) const {
  if (a.device_tiers.empty() || b.device_tiers.empty())
    throw InputError("moving KV between instances needs their nodes (give cluster.node)");
  // Re-sharding from a's TP ranks to b's: destination rank r holds KV heads [r/B, (r+1)/B) of the
  // whole, source rank s holds [s/A, (s+1)/A); each pair that overlaps sends that share. Equal
  // degrees pair rank with rank.
  std::vector<KvFlow> flows;
  const std::size_t A = a.device_tiers.size(), B = b.device_tiers.size();
  const double total = static_cast<double>(tokens) * b.kv_bytes_per_token * static_cast<double>(B);
  for (std::size_t r = 0; r < B; ++r)
    for (std::size_t s = r * A / B; s < A && s * B < (r + 1) * A; ++s) {
      // Overlap of [r/B, (r+1)/B) and [s/A, (s+1)/A), in units of 1/(A B).
      const std::size_t lo = std::max(r * A, s * B), hi = std::min((r + 1) * A, (s + 1) * B);
      if (hi > lo) flows.push_back({s, r, total * static_cast<double>(hi - lo) / static_cast<double>(A * B)});
    }
  return flows;
}

void ServingRun::send(const ReplicaPlan& a, const ReplicaPlan& b, const std::vector<KvFlow>& flows, double setup) {
  std::vector<TransferNetwork::Transfer> inflight;
  for (const KvFlow& f : flows)
    if (f.bytes > 0) inflight.push_back(network_->start(a.device_tiers[f.src], b.device_tiers[f.dst], f.bytes, 1 << 20, setup));
  for (auto& t : inflight) t.wait();
}

void ServingRun::move_sequence(policies::Sequence& seq, std::size_t from, std::size_t to, MoveOptions options,
                               std::function<void()> done) {
  Replica& src = *replicas_.at(from);
  Replica& dst = *replicas_.at(to);
  const ReplicaPlan& a = src.plan();
  const ReplicaPlan& b = dst.plan();
  std::vector<KvFlow> flows = kv_flows(a, b, seq.computed);
  // Streamed layer by layer under the prefill: what the idle route carried meanwhile is already
  // there, except the last layer's share, which exists only when the prefill ends.
  const double layers = static_cast<double>(std::max<std::int64_t>(1, sc_.model.num_hidden_layers));
  if (options.streamed_window > 0)
    for (KvFlow& f : flows) {
      const double idle = network_->router().idle_transfer_time(a.device_tiers[f.src], b.device_tiers[f.dst], f.bytes, 1 << 20);
      const double carried = idle > 0 ? f.bytes / idle * options.streamed_window * (layers - 1) / layers : f.bytes;
      f.bytes = std::max(f.bytes / layers, f.bytes - carried);
    }
  double bytes_sent = 0;
  for (const KvFlow& f : flows) bytes_sent += f.bytes;
  // Decode blocks are reserved when the transfer starts (DistServe); the source keeps its blocks
  // until the KV has landed.
  auto held = src.detach_kv(seq);
  dst.reserve_kv(seq);
  ++pending_;
  const double started = now();
  sg::Actor::create(fmt::format("move-{}", seq.id), frontend_,
                    [this, &seq, &src, &dst, from, to, held = std::move(held), done, flows = std::move(flows), options,
                     bytes_sent, started] {
                      failure_.guard([&] {
                        send(src.plan(), dst.plan(), flows, options.setup);
                        check_clock([&] { return fmt::format("moving sequence {}'s KV from instance {} to {}", seq.id, from, to); });
                        src.release_kv(held);
                        reached(now());
                        recorder_.on_kv_handoff(seq.id, bytes_sent, now() - started);
                        if (options.first_token_on_landing) {
                          seq.first_token = now();
                          recorder_.on_first_token(seq.id, now());
                        }
                        dst.adopt(seq, now());
                        --pending_;
                        if (done) done();
                        wake(to);
                        end_if_quiescent();
                      });
                    });
}

bool ServingRun::migrate(policies::Sequence& seq, std::size_t from, std::size_t to, MigrationOptions options) {
  Replica& src = *replicas_.at(from);
  Replica& dst = *replicas_.at(to);
  if (from == to || seq.migrating || seq.handed_off || !seq.decoding() || seq.kv_tier != serving::kDeviceTier ||
      !src.is_running(seq) || !src.plan().kv->allows_moves() || !dst.plan().kv->allows_moves())
    return false;
  if (options.mode != MigrationMode::recompute && !dst.can_hold(seq)) return false;
  if (dst.misfit(seq) != Replica::Misfit::none) return false;
  seq.migrating = true;
  ++pending_;
  sg::Actor::create(fmt::format("migrate-{}", seq.id), frontend_, [this, &seq, &src, &dst, from, to, options] {
    failure_.guard([&] {
      MigrationRecord record{.request = seq.id, .from = static_cast<int>(from), .to = static_cast<int>(to), .start = now()};
      policies::Sequence shadow;  // the target's block table while the copies run
      shadow.id = seq.id;
      std::int64_t sent = 0;  // tokens whose KV is on the target
      const int preemptions = seq.preemptions;
      // A sequence that ends has its storage recycled for a later request: `seq` is still ours
      // only while its id is.
      const std::int64_t id = seq.id;
      auto ours = [&] { return seq.id == id; };
      bool going = true;
      auto copy = [&](std::int64_t tokens) {
        const auto flows = kv_flows(src.plan(), dst.plan(), tokens);
        for (const KvFlow& f : flows) record.bytes += f.bytes;
        send(src.plan(), dst.plan(), flows, options.setup);
        ++record.stages;
      };
      // Live: copy what exists while it keeps decoding, then what was added meanwhile, until
      // what is left is small enough for the stop-and-copy (or the stages run out).
      if (options.mode == MigrationMode::live)
        for (int stage = 1; stage < options.max_stages && going; ++stage) {
          const std::int64_t tokens = seq.computed;
          if (dst.plan().kv->blocks_for(tokens - sent) <= options.last_stage_max_blocks) break;
          going = dst.reserve_shadow(shadow, tokens);
          if (!going) break;
          copy(tokens - sent);
          sent = tokens;
          going = ours() && src.is_running(seq) && seq.preemptions == preemptions;  // finished or preempted meanwhile: give up
        }
      // Stop at a step boundary.
      bool paused = false;
      if (going && ours()) {
        auto gate = sg::Semaphore::create(0);
        src.request_pause(seq, [&](bool p) {
          paused = p;
          gate->release();
        });
        gate->acquire();
      }
      // Preempted and resumed during the copies (its KV is new), or no room left on the target:
      // it resumes where it was.
      if (paused && (seq.preemptions != preemptions ||
                     (options.mode != MigrationMode::recompute && !dst.reserve_shadow(shadow, seq.computed)))) {
        src.adopt(seq, now());
        wake(from);
        paused = false;
      }
      const double stopped = now();
      if (!paused) {
        dst.release_shadow(shadow);
        record.aborted = true;
      } else if (options.mode == MigrationMode::recompute) {
        src.release_kv(src.detach_kv(seq));
        seq.computed = 0;  // prompt and output so far recomputed on the target
        dst.requeue(seq, now());
      } else {
        const double before = record.bytes;
        copy(seq.computed - sent);  // the stop-and-copy (all of it when blocking)
        record.last_stage_bytes = record.bytes - before;
        const auto held = src.detach_kv(seq);
        seq.blocks = std::move(shadow.blocks);
        src.release_kv(held);
        dst.adopt(seq, now());
      }
      if (paused) record.downtime = now() - stopped;
      check_clock([&] { return fmt::format("migrating sequence {} from instance {} to {}", id, from, to); });
      reached(now());
      record.end = now();
      recorder_.on_migration(record);
      if (ours()) seq.migrating = false;
      --pending_;
      wake(to);
      end_if_quiescent();
    });
  });
  return true;
}

void ServingRun::set_timer(double at, std::function<void()> fn) {
  ++pending_;
  sg::Actor::create("timer", frontend_, [this, at, fn = std::move(fn)] {
    failure_.guard([&] {
      if (at > sg::Engine::get_clock()) sg::this_actor::sleep_until(at);
      reached(now());
      fn();
      --pending_;
      end_if_quiescent();
    });
  });
}

}  // namespace

EngineStats run_serving(Scenario& sc, Recorder& recorder, EngineOptions options) { return ServingRun(sc, recorder, options).run(); }

}  // namespace hetsim::sim
