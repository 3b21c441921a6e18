#include "sim/engine/serving_engine.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "sim/core/interrupt.hpp"
#include "sim/engine/serving_run.hpp"
#include "sim/engine/simgrid_setup.hpp"
#include "sim/metrics/scaling_totals.hpp"

namespace hetsim::sim {
namespace detail {

EngineStats ServingRun::run() {
  const auto engine = make_simgrid_engine();
  build_platform();
  // Replicas call the controllers' hooks only for controllers that act in them.
  const bool hooks = std::any_of(sc_.controllers.begin(), sc_.controllers.end(), [](const auto& c) { return !c->acts_only_in_timers(); });
  for (std::size_t i = 0; i < sc_.replicas.size(); ++i) {
    replicas_.push_back(std::make_unique<Replica>(static_cast<int>(i), sc_.replicas[i], sc_.model, sc_.max_model_len,
                                                  recorder_, hooks ? &sc_.controllers : nullptr));
    if (!sc_.replicas[i].offload_tier.empty()) replicas_.back()->offload_on(offload_engine_ids_[i]);
  }
  // kv_tiers.csv, beside step_windows.csv, for caching KV managers with tiers to report.
  if (recorder_.info().output.steps != StepOutput::none &&
      std::any_of(sc_.replicas.begin(), sc_.replicas.end(), [](const ReplicaPlan& p) { return !p.kv->tier_stats().empty(); })) {
    kv_windows_.emplace(recorder_.info().output.step_window);
    for (auto& r : replicas_) r->report_kv_tiers(&*kv_windows_);
  }
  actors_.resize(replicas_.size());
  index_fleet();
  idle_.assign(replicas_.size(), 0);
  state_.assign(replicas_.size(), serving::InstanceState::active);
  in_state_[static_cast<std::size_t>(serving::InstanceState::active)] = replicas_.size();
  crossing_.assign(replicas_.size(), 0);
  since_.assign(replicas_.size(), 0.0);
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
    next_snapshot_ = sc_.router_refresh;
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
  if (recorder_.active().has_feature("scaling")) recorder_.write_file("scaling.csv", scaling_csv(recorder_.scaling_log(), recorder_.info()));
  stats_.peak_sequences = static_cast<std::int64_t>(sequences_.capacity());
  return stats_;
}

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
  // Offload over the platform: the offload side is its node's host, one engine that every replica
  // on the node offloading there shares (their offloaded ops slow each other down).
  std::map<std::string, EngineId> hosts;
  offload_engine_ids_.assign(sc_.replicas.size(), EngineId{});
  for (std::size_t i = 0; i < sc_.replicas.size(); ++i) {
    const std::string& tier = sc_.replicas[i].offload_tier;
    if (tier.empty()) continue;
    auto it = hosts.find(tier);
    if (it == hosts.end()) it = hosts.emplace(tier, executor_->add_engine(tier + ".offload", true)).first;
    offload_engine_ids_[i] = it->second;
  }
  engine_zone->seal();
  zone->seal();
}

bool ServingRun::can_coalesce() const {
  if (reactive_) return false;
  if (!std::all_of(sc_.controllers.begin(), sc_.controllers.end(), [](const auto& c) { return c->acts_only_in_timers(); }))
    return false;
  return std::all_of(sc_.replicas.begin(), sc_.replicas.end(), [](const ReplicaPlan& p) { return p.kv->store().tiers() == 1; });
}

double ServingRun::horizon(std::size_t i) const {
  constexpr double never = -std::numeric_limits<double>::infinity();
  // A draining instance stops when its last step ends, which a run ahead would record early. A
  // transfer on the network (a sequence's KV moving, a cold start's weights) progresses in SimGrid
  // event by event: fewer events would round its end differently.
  if (!coalesce_ || state_[i] != serving::InstanceState::active) return never;
  if (pending_ > static_cast<int>(timers_.size())) return never;
  double until = std::numeric_limits<double>::infinity();
  if (!sc_.arrivals->done()) {
    const auto due = sc_.arrivals->next_time();
    if (!due) return never;
    until = *due;
  }
  for (const PendingTimer& t : timers_)
    if (t.at < until && !(t.idle && t.idle())) until = t.at;
  return std::min(until, next_snapshot_);
}

void ServingRun::replica_loop(std::size_t i) {
  // Coalescing (issue: one SimGrid event per step even when nobody could observe it): in a run
  // where only arrivals, controller looks and router snapshots can observe or change a replica's
  // course, steps that start and end before the next of them (horizon) run here, back to back,
  // without an event; the step that crosses it is an event, so whoever looks sees every replica as
  // it would be at that time. Times are exact sums either way, and
  // the recorder orders what it writes by time, so results are byte-identical with coalescing off.
  Replica& replica = *replicas_[i];
  OpGraph graph;
  while (true) {
    // A starting instance holds what was routed to it until its weights are in.
    if (!replica.has_work() || state_[i] == serving::InstanceState::starting) {
      settle(i);  // a draining instance with nothing left stops
      --working_;
      if (done_ || end_if_quiescent()) return;
      idle_[i] = 1;
      sg::this_actor::suspend();
      continue;
    }
    // Pure-decode steps that nothing could change run at once, and the one that reaches the
    // horizon is planned without the scheduler (Replica::run_steady_decodes).
    Replica::SteadyRun steady;
    const double until = horizon(i);
    const bool ahead = until > -std::numeric_limits<double>::infinity();
    if (ahead && executor_->engine_on(engine_ids_[i])) {
      steady = replica.run_steady_decodes(until, engine_ids_[i], graph);
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
    if (steady.planned || !(ahead && executor_->try_run_ahead(graph, start, until))) {
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
  if (target >= replicas_.size() || (any_fits && !class_fits_[fleet_->class_of(target)]) ||
      (any_fits && state_[target] == serving::InstanceState::stopped))
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
  // The fleet index knows nothing of instance states: with any instance not active, every load.
  if (!stale && count(serving::InstanceState::active) == replicas_.size())
    if (auto plan = sc_.router->plan_indexed(req, *fleet_, class_fits_)) return *plan;
  const bool probe = sc_.router->reads_cached_prefix();
  loads_.resize(replicas_.size());
  bool any = false;
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    loads_[i] = stale ? snapshot_[i] : replicas_[i]->load();
    loads_[i].role = sc_.replicas[i].role;
    loads_[i].can_fit = class_fits_[fleet_->class_of(i)] && routable(i);
    any = any || loads_[i].can_fit;
  }
  if (!any) {
    // No active instance can hold it: it waits on one that is starting (as Knative's activator
    // buffers requests for a revision scaling up), else a draining one takes work again.
    for (const auto wanted : {serving::InstanceState::starting, serving::InstanceState::draining}) {
      for (std::size_t i = 0; i < replicas_.size(); ++i) {
        loads_[i].can_fit = class_fits_[fleet_->class_of(i)] && state_[i] == wanted;
        any = any || loads_[i].can_fit;
      }
      if (any) break;
    }
    if (!any)
      throw InvariantError(fmt::format("request {} arrived when every instance that can hold it is stopped (an "
                                       "autoscaler's min keeps at least one instance of each pool)", req.id));
  }
  if (probe)
    for (std::size_t i = 0; i < replicas_.size(); ++i)
      if (loads_[i].can_fit) loads_[i].cached_tokens = replicas_[i]->cached_prefix_tokens(seq);
  policies::RoutePlan plan = sc_.router->plan(req, loads_);
  if (plan.instance < replicas_.size() && state_[plan.instance] == serving::InstanceState::draining)
    set_state(plan.instance, serving::InstanceState::active, {.event = ScalingEvent::revive});
  return plan;
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
    next_snapshot_ = at;  // steps run ahead no further (coalescing)
    if (at > now()) sg::this_actor::sleep_until(at);
    for (std::size_t i = 0; i < replicas_.size(); ++i) snapshot_[i] = replicas_[i]->load();
    double next = k + 1;
    if (!reactive_ && !sc_.arrivals->done())
      if (const auto due = sc_.arrivals->next_time()) next = std::max(next, std::floor(*due / period));
    k = next;
  }
  next_snapshot_ = std::numeric_limits<double>::infinity();
}

void ServingRun::request_ended(std::int64_t id, double now) {
  if (sc_.router->observes_ends()) sc_.router->on_end(id);
  if (!reactive_) return;
  sc_.arrivals->on_end(id, now);
  ends_->notify_one();
}

void ServingRun::set_timer(double at, std::function<void()> fn, std::function<bool()> idle) {
  ++pending_;
  const bool own = std::isfinite(timer_wake_) && at < timer_wake_;  // the timer actor sleeps past it
  const TimerIt timer = timers_.insert(timers_.end(), {at, std::move(fn), std::move(idle), own});
  if (own) {
    sg::Actor::create("timer", frontend_, [this, timer] {
      failure_.guard([&] {
        if (timer->at > sg::Engine::get_clock()) sg::this_actor::sleep_until(timer->at);
        fire(timer);
      });
    });
  } else if (timer_wake_ == std::numeric_limits<double>::infinity()) {
    timer_wake_ = -std::numeric_limits<double>::infinity();
    sg::Actor::create("timers", frontend_, [this] { failure_.guard([&] { timer_loop(); }); });
  }
}

void ServingRun::timer_loop() {
  while (true) {
    TimerIt next = timers_.end();
    for (auto t = timers_.begin(); t != timers_.end(); ++t)
      if (!t->own_actor && (next == timers_.end() || t->at < next->at)) next = t;
    if (next == timers_.end()) {
      timer_wake_ = std::numeric_limits<double>::infinity();
      return;
    }
    timer_wake_ = next->at;
    if (next->at > sg::Engine::get_clock()) sg::this_actor::sleep_until(next->at);
    timer_wake_ = -std::numeric_limits<double>::infinity();
    fire(next);
  }
}

void ServingRun::fire(TimerIt t) {
  // An idle look does nothing, so it does not make the run last longer. Replicas may have run
  // past it, but no idle predicate reads them (what it reads changes only at non-idle events).
  if (!(t->idle && t->idle())) reached(now());
  const std::function<void()> fn = std::move(t->fn);
  timers_.erase(t);
  fn();
  --pending_;
  end_if_quiescent();
}

}  // namespace detail

EngineStats run_serving(Scenario& sc, Recorder& recorder, EngineOptions options) {
  return detail::ServingRun(sc, recorder, options).run();
}

}  // namespace hetsim::sim
