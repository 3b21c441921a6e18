#include "sim/engine/training_engine.hpp"

#include <simgrid/s4u.hpp>

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <mutex>
#include <string_view>

#include "sim/core/error.hpp"
#include "sim/core/interrupt.hpp"
#include "sim/core/rng.hpp"
#include "sim/core/units.hpp"
#include "sim/engine/actor_failure.hpp"
#include "sim/engine/ring_collective.hpp"
#include "sim/engine/simgrid_setup.hpp"
#include "sim/engine/transfer_network.hpp"
#include "workload/document_packing.hpp"

namespace hetsim::sim {
namespace sg = simgrid::s4u;
using training::PassKind;
using training::PipelineOp;

namespace {

class TrainingRun {
 public:
  TrainingRun(const TrainingScenario& sc, TrainingOptions options)
      : sc_(sc),
        options_(options),
        P_(sc.job.plan.pp),
        D_(sc.job.plan.dp),
        R_(sc.one_replica ? 1 : sc.job.plan.dp),
        V_(sc.job.pipeline().chunks()),
        M_(static_cast<int>(sc.job.microbatches())),
        K_(sc.job.model_stages()),
        shape_(sc.job.pipeline()) {}

  TrainingRecords run() {
    const auto engine = make_simgrid_engine();
    build_platform();
    order_ = sc_.schedule->order(shape_);
    groups_.resize(static_cast<std::size_t>(P_ * R_));
    records_.ranks.resize(groups_.size());
    records_.replicas_per_record = D_ / R_;
    tiers_.resize(static_cast<std::size_t>(P_ * D_));
    for (int s = 0; s < P_; ++s)
      for (int d = 0; d < D_; ++d) init_tiers(s, d);
    for (int s = 0; s < P_; ++s)
      for (int d = 0; d < R_; ++d) init_group(s, d);
    if (sc_.checkpoint) checkpoint_copies_ = sc_.checkpoint->copies();
    if (sc_.documents) pack_documents();
    for (auto& c : collectives_) c.assign(static_cast<std::size_t>(P_ * V_), Gathering{});
    barrier_ = sg::Barrier::create(static_cast<unsigned>(groups_.size()));
    iteration_flops_.assign(static_cast<std::size_t>(sc_.job.iterations), 0.0);
    for (std::size_t g = 0; g < groups_.size(); ++g)
      sg::Actor::create(fmt::format("stage{}-dp{}", groups_[g].pp, groups_[g].dp), host_,
                        [this, g] { failure_.guard([&] { group_loop(g); }); });
    engine->run();
    failure_.rethrow();
    if (finished_ != groups_.size())
      throw InvariantError(fmt::format("the training simulation stopped at {:g} s with {} of {} rank groups unfinished: "
                                       "a pass waits for data that never comes",
                                       sg::Engine::get_clock(), groups_.size() - finished_, groups_.size()));
    return std::move(records_);
  }

 private:
  /// Data a pass waits for from another stage: filled by the sender when its pass ends.
  struct Slot {
    bool filled = false;
    double producer_end = 0;
    std::vector<sg::ActivityPtr> parts;
  };
  /// One pipeline stage of one simulated data-parallel replica: its TP x CP devices run in lockstep.
  struct Group {
    int dp = 0, pp = 0;
    const std::vector<std::string>* tiers = nullptr;  ///< its devices' memory tiers, (cp, tp) order
    sg::MutexPtr mutex;
    sg::ConditionVariablePtr cv;
    std::vector<Slot> activations, gradients;  ///< [chunk * M + microbatch]
    std::vector<char> reduced;   ///< per chunk: this iteration's gradient reduction is done
    std::vector<char> gathered;  ///< per chunk: the parameter gather after the last step is done
    int in_flight = 0;
    double pace = 1;     ///< slowdown of its slowest device (training.stragglers.slow)
    /// Its device type (TrainingScenario::device_type): with node groups of other devices, the
    /// type whose passes are slowest among its devices, which run in lockstep.
    int type = 0;
    Rng jitter{0, ""};   ///< its stream of per-pass variability
    char copied = 1;     ///< the checkpoint copy it waits for has ended
    char persisted = 1;  ///< its checkpoint's background copies have ended
    int lanes_pending = 0;  ///< lanes of the offloaded optimizer step's current phase still running
    char snapshotted = 1;   ///< its checkpoint's lazy copy (the next optimizer step waits for it) has ended
    /// Copies beside the pass in progress (activation swaps, parameter fetches) still running, and
    /// when the pass may end for those that have (a copy's end plus the work that waits for it).
    int copies_pending = 0;
    double copies_ready = 0;
  };
  enum Phase { kReduce = 0, kGather = 1 };

  void build_platform() {
    auto* zone = sg::create_star_zone("training");
    host_ = zone->create_host("ranks", 1e9);
    network_ = std::make_unique<TransferNetwork>(platform_of(sc_), zone);
    zone->seal();
  }

  /// The memory tiers of the devices of stage `s` of replica `d`, simulated or not.
  void init_tiers(int s, int d) {
    std::vector<std::string>& tiers = tiers_[static_cast<std::size_t>(s * D_ + d)];
    const ParallelPlan& p = sc_.job.plan;
    for (int c = 0; c < p.cp; ++c)
      for (int t = 0; t < p.tp; ++t) tiers.push_back(sc_.device_tier(sc_.rank(d, s, c, t)));
  }
  const std::vector<std::string>& tiers(int s, int d) const { return tiers_[static_cast<std::size_t>(s * D_ + d)]; }

  void init_group(int s, int d) {
    Group& g = groups_[static_cast<std::size_t>(s * R_ + d)];
    g.dp = d;
    g.pp = s;
    g.tiers = &tiers(s, d);
    const auto slowest = [&](int type) { return sc_.stages_of(type)[static_cast<std::size_t>(training::model_stage(shape_, s, 0))].forward.seconds; };
    for (std::size_t i = 0; i < g.tiers->size(); ++i) {
      const int type = sc_.device_type(device_rank(s, d, i));
      if (slowest(type) > slowest(g.type)) g.type = type;
    }
    g.mutex = sg::Mutex::create();
    g.cv = sg::ConditionVariable::create();
    g.activations.resize(static_cast<std::size_t>(V_ * M_));
    g.gradients.resize(static_cast<std::size_t>(V_ * M_));
    g.reduced.assign(static_cast<std::size_t>(V_), 0);
    g.gathered.assign(static_cast<std::size_t>(V_), 1);  // the first iteration starts with gathered parameters
    if (sc_.job.stragglers.any()) {
      for (const auto& [rank, factor] : sc_.job.stragglers.slow)
        for (std::size_t i = 0; i < g.tiers->size(); ++i)
          if (device_rank(s, d, i) == rank) g.pace = std::max(g.pace, factor);
      g.jitter = Rng(sc_.seed, fmt::format("stragglers-stage{}-dp{}", s, d));
    }
    RankRecord& r = records_.ranks[static_cast<std::size_t>(s * R_ + d)];
    r.dp = d;
    r.pp = s;
    r.first_rank = sc_.rank(d, s, 0, 0);
    r.device = sc_.device_of_type(g.type).name;
  }

  Group& group(int s, int d) { return groups_[static_cast<std::size_t>(s * R_ + d)]; }
  static double now() { return sg::Engine::get_clock(); }

  /// A pass (or optimizer step) as group `g` runs it: its priced time times the group's slowdown and
  /// a lognormal factor of mean 1 and the configured coefficient of variation.
  double pace(std::size_t g) {
    Group& me = groups_[g];
    const double cv = sc_.job.stragglers.jitter;
    if (cv <= 0) return me.pace;
    const double sigma2 = std::log1p(cv * cv);
    return me.pace * std::exp(-sigma2 / 2 + std::sqrt(sigma2) * me.jitter.normal());
  }
  training::PassCost paced(std::size_t g, training::PassCost cost) {
    if (!sc_.job.stragglers.any()) return cost;
    const double k = pace(g);
    cost.seconds *= k;
    cost.comm *= k;
    cost.ep_comm *= k;
    cost.cp_comm *= k;
    return cost;
  }

  void span(std::size_t g, TimelineSpan::Stream stream, std::string_view name, int mb, int chunk, double start, double end) {
    if (!options_.timeline) return;
    records_.timeline.push_back({static_cast<std::uint32_t>(g), stream, name, mb, chunk, start, end});
  }

  /// Runs one pass of `cost` on the group's devices, ending `cost.seconds` from now or at `end`
  /// (a pass that began while the group still waited for something it needs only later).
  void compute(std::size_t g, const training::PassCost& cost, std::string_view name, int mb, int chunk, double end = -1) {
    if (end < 0) end = now() + cost.seconds;
    const double start = end - cost.seconds;
    if (end > now()) sg::this_actor::sleep_until(end);
    RankRecord& r = records_.ranks[g];
    r.times.compute += cost.seconds - cost.comm;
    r.times.tp_comm += cost.comm - cost.ep_comm - cost.cp_comm;
    r.times.ep_comm += cost.ep_comm;
    r.times.cp_comm += cost.cp_comm;
    r.flops += cost.flops;
    ++records_.passes;
    span(g, TimelineSpan::Stream::compute, name, mb, chunk, start, now());
  }

  void held_changed(std::size_t g, int held) {
    if (options_.timeline) records_.memory.push_back({static_cast<std::uint32_t>(g), now(), held});
  }

  /// Sends the boundary tensor of model stage `from_stage` for micro-batch `mb` to the group that
  /// runs `to_stage` of the same replica: one flow per device, device i to device i. Simulating one
  /// replica, the same send of every other replica loads the network too (shadow flows).
  /// `direction` is the micro-batch's chunk, which picks the copy of `to_stage` in a bidirectional pipeline.
  void send(const Group& src, int from_stage, int to_stage, int mb, bool gradient, int direction) {
    const training::StageLocation to = training::stage_location(shape_, to_stage, direction);
    Group& dst = group(to.rank, src.dp);
    Slot& slot = (gradient ? dst.gradients : dst.activations)[static_cast<std::size_t>(to.chunk * M_ + mb)];
    if (slot.filled)
      throw InvariantError(fmt::format("stage {} of replica {} sent micro-batch {} to stage {} twice in one iteration",
                                       from_stage, src.dp, mb, to_stage));
    // In a V the turn from the last rank's chunk 0 to its chunk 1 stays on the device: nothing crosses.
    const bool local = to.rank == src.pp;
    const double bytes = sc_.stages[static_cast<std::size_t>(gradient ? to_stage : from_stage)].boundary_bytes;
    for (std::size_t i = 0; !local && i < src.tiers->size(); ++i) {
      auto t = network_->start((*src.tiers)[i], (*dst.tiers)[i], bytes);
      for (auto& part : t.parts) slot.parts.push_back(std::move(part));
      ++records_.transfers;
    }
    if (R_ < D_ && !local) {
      FlowBatch shadows;
      for (int d = R_; d < D_; ++d) {
        const auto& from = tiers(src.pp, d);
        const auto& into = tiers(to.rank, d);
        for (std::size_t i = 0; i < from.size(); ++i) shadows.add(from[i], into[i], bytes);
      }
      records_.transfers += static_cast<std::int64_t>(shadows.size());
      shadows.launch(*network_, host_, "shadow-sends", failure_, [] {});
    }
    slot.filled = true;
    slot.producer_end = now();
    dst.cv->notify_all();
  }

  /// Waits for the slot's data: time before its producer's pass ended is bubble, after it transfer.
  void receive(std::size_t g, Slot& slot, std::string_view name, int mb, int chunk) {
    Group& me = groups_[g];
    const double t0 = now();
    {
      std::unique_lock lock(*me.mutex);
      while (!slot.filled) me.cv->wait(lock);
    }
    double arrived = slot.producer_end;
    for (auto& part : slot.parts) {
      part->wait();
      arrived = std::max(arrived, part->get_finish_time());
    }
    slot.parts.clear();  // releases the finished activities now: a run holds only those in flight
    const double t1 = now();
    const double bubble = std::max(0.0, std::min(slot.producer_end, t1) - t0);
    RankRecord& r = records_.ranks[g];
    r.times.pp_bubble += bubble;
    r.times.pp_comm += (t1 - t0) - bubble;
    span(g, TimelineSpan::Stream::pp, name, mb, chunk, slot.producer_end, arrived);
  }

  /// Group `g` is ready for data-parallel phase `phase` of its chunk `chunk`; the last of the
  /// simulated replicas of the stage to arrive starts the rings (one per tensor-parallel position,
  /// over the devices there of all D replicas, simulated or not, and of their context-parallel
  /// ranks) and a watcher that marks it done for every replica. A bidirectional pipeline holds each
  /// model stage twice (on ranks s and p-1-s): its two copies' devices join the same rings, as they
  /// hold the same weights.
  void arrive(std::size_t g, int chunk, Phase phase, double ready_at) {
    const Group& me = groups_[g];
    const ParallelPlan& p = sc_.job.plan;
    const int k = training::model_stage(shape_, me.pp, chunk);
    std::vector<training::StageLocation> copies{{me.pp, chunk}};
    if (shape_.bidirectional) copies = {training::stage_location(shape_, k, 0), training::stage_location(shape_, k, 1)};
    const auto done = [this, copies, phase] {
      for (const training::StageLocation& at : copies) mark_done(at.rank, at.chunk, phase);
    };
    if (copies.size() == 1 && p.weight_replicas() == 1 && (p.ep == 1 || p.expert_replicas() == 1)) {
      done();
      return;
    }
    Gathering& col = collectives_[phase][static_cast<std::size_t>(shape_.bidirectional ? k : me.pp * V_ + chunk)];
    col.ready = std::max(col.ready, ready_at);
    if (++col.arrived < R_ * static_cast<int>(copies.size())) return;
    const double ready = col.ready;
    col = Gathering{};
    const training::StageCost& stage = sc_.stages[static_cast<std::size_t>(k)];
    const Collective kind = phase == kGather ? Collective::all_gather
                            : p.zero >= 1   ? Collective::reduce_scatter
                                            : Collective::all_reduce;
    const double experts = phase == kReduce ? stage.expert_grad_bytes : stage.expert_param_bytes;
    const double dense = (phase == kReduce ? stage.grad_bytes : stage.param_bytes) - experts;
    FlowBatch batch;
    double extra = 0;
    // One ring per tensor-parallel position, over the devices of every replica and context rank
    // there (they hold the same weights: ParallelPlan::weight_replicas); under expert parallelism
    // the routed experts' part rings over the ranks holding the same expert shard: the same place in
    // their group of etp x ep consecutive ranks of the stage (ranks ordered tp, cp, dp).
    std::vector<const std::string*> members;
    const int per_replica = p.tp * p.cp, expert_shards = p.ep * p.expert_tp();
    const auto ring = [&](int t, int ep_index, double bytes) {
      members.clear();
      for (const training::StageLocation& at : copies)
        for (int d = 0; d < D_; ++d)
          for (int c = 0; c < p.cp; ++c)
            for (int u = 0; u < p.tp; ++u) {
              const int local = c * p.tp + u, stage_rank = d * per_replica + local;
              if (ep_index < 0 ? u == t : stage_rank % expert_shards == ep_index)
                members.push_back(&tiers(at.rank, d)[static_cast<std::size_t>(local)]);
            }
      if (members.size() > 1 && bytes > 0) extra = std::max(extra, add_ring(*network_, kind, members, bytes, batch));
    };
    for (int t = 0; t < p.tp; ++t) ring(t, -1, dense);
    if (experts > 0)
      for (int e = 0; e < expert_shards; ++e) ring(0, e, experts);
    records_.transfers += static_cast<std::int64_t>(batch.size());
    // The flows carry every step's bytes at once (the ring's bandwidth term, contended); the
    // other steps' latencies follow: alpha-beta time on an idle fabric.
    const double start = now();
    const double buckets = buckets_of(stage);
    batch.launch(*network_, host_, fmt::format("dp-{}-stage{}-chunk{}", phase == kReduce ? "reduce" : "gather", me.pp, chunk),
                 failure_, [this, extra, chunk, phase, start, g, ready, buckets, done] {
                   sg::this_actor::sleep_for(extra);
                   // Buckets go out as the backward produces them: the last one cannot leave
                   // before the backward ends, and takes its share of the ring's time.
                   const double floor = ready + (now() - start) / buckets;
                   if (floor > now()) sg::this_actor::sleep_until(floor);
                   span(g, TimelineSpan::Stream::dp, phase == kReduce ? "grad_reduce" : "param_gather", -1, chunk, start,
                        now());
                   done();
                 });
  }

  /// Communication buckets of a model stage's parameters on one device.
  double buckets_of(const training::StageCost& stage) const {
    return std::max(1.0, std::ceil(stage.parameters / sc_.job.overlap.bucket_parameters));
  }

  void mark_done(int s, int chunk, Phase phase) {
    for (int d = 0; d < R_; ++d) {
      Group& g = group(s, d);
      (phase == kReduce ? g.reduced : g.gathered)[static_cast<std::size_t>(chunk)] = 1;
      g.cv->notify_all();
    }
  }

  /// Waits until `flag` (one of the group's) is set.
  static void wait_until(Group& me, const char& flag) {
    std::unique_lock lock(*me.mutex);
    while (!flag) me.cv->wait(lock);
  }
  /// Waits until `flag` is set; the time counts as exposed data-parallel communication.
  void wait_flag(std::size_t g, const char& flag) {
    const double t0 = now();
    wait_until(groups_[g], flag);
    records_.ranks[g].times.dp_comm += now() - t0;
  }

  void group_loop(std::size_t g) {
    Group& me = groups_[g];
    const int s = me.pp;
    const auto& order = order_[static_cast<std::size_t>(s)];
    const ParallelPlan& p = sc_.job.plan;
    const bool gathers = p.zero >= 1 && p.zero < 3;  // ZeRO-3 gathers inside the passes instead
    std::vector<int> backwards_done(static_cast<std::size_t>(V_));
    std::vector<char> awaiting_gather(static_cast<std::size_t>(V_), 0);  ///< per chunk: its next forward needs the gather
    for (int it = 0; it < sc_.job.iterations; ++it) {
      interrupt::check();  // Ctrl-C stops a long run between iterations (failure_.guard keeps it)
      const double flops_before = records_.ranks[g].flops;
      std::fill(backwards_done.begin(), backwards_done.end(), 0);
      std::fill(me.reduced.begin(), me.reduced.end(), 0);
      for (const PipelineOp& op : order) {
        const int k = training::model_stage(shape_, s, op.chunk);
        const training::StageCost& stage = sc_.stages_of(me.type)[static_cast<std::size_t>(k)];
        const auto slot = static_cast<std::size_t>(op.chunk * M_ + op.microbatch);
        switch (op.kind) {
          case PassKind::forward: {
            if (k > 0) receive(g, me.activations[slot], "recv_activation", op.microbatch, op.chunk);
            const training::PassCost forward = paced(g, packed(g, it, op.microbatch, k, PassKind::forward, stage.forward));
            // Swapping, each layer's activations leave for host memory once its forward ends: the
            // copy starts after the first layer, and the pass ends when both are done.
            const double layers = std::max(1.0, stage.layers);
            start_pass_copies(g, k, true, forward.seconds / layers, op.microbatch, op.chunk);
            if (awaiting_gather[static_cast<std::size_t>(op.chunk)]) {
              // The chunk's first forward after the step needs its gathered parameters, bucket by
              // bucket: it ends no sooner than one bucket's share of it after the gather does.
              awaiting_gather[static_cast<std::size_t>(op.chunk)] = 0;
              const double t0 = now(), f = forward.seconds;
              wait_until(me, me.gathered[static_cast<std::size_t>(op.chunk)]);
              const double exposed = std::max(0.0, now() + f / buckets_of(stage) - (t0 + f));
              records_.ranks[g].times.dp_comm += exposed;
              compute(g, forward, "forward", op.microbatch, op.chunk, t0 + f + exposed);
            } else {
              compute(g, forward, "forward", op.microbatch, op.chunk);
            }
            finish_pass_copies(g);
            records_.ranks[g].peak_in_flight = std::max(records_.ranks[g].peak_in_flight, ++me.in_flight);
            held_changed(g, me.in_flight);
            if (k < K_ - 1) send(me, k, k + 1, op.microbatch, false, op.chunk);
            break;
          }
          case PassKind::backward:
          case PassKind::backward_input: {
            if (k < K_ - 1) receive(g, me.gradients[slot], "recv_gradient", op.microbatch, op.chunk);
            const bool fused = op.kind == PassKind::backward;
            const training::PassCost cost =
                paced(g, packed(g, it, op.microbatch, k, op.kind, fused ? stage.backward() : stage.backward_input));
            if (fused) last_backward(g, op.chunk, backwards_done, cost);
            // Swapping, the activations come back from host memory as the backward starts (layer
            // after layer): the pass ends no sooner than one layer's backward after the last arrives.
            start_pass_copies(g, k, false, cost.seconds / std::max(1.0, stage.layers), op.microbatch, op.chunk);
            compute(g, cost, fused ? "backward" : "backward_input", op.microbatch, op.chunk);
            finish_pass_copies(g);
            held_changed(g, --me.in_flight);
            if (k > 0) send(me, k, k - 1, op.microbatch, true, op.chunk);
            break;
          }
          case PassKind::backward_weight: {
            const training::PassCost cost = paced(g, packed(g, it, op.microbatch, k, op.kind, stage.backward_weight));
            last_backward(g, op.chunk, backwards_done, cost);
            compute(g, cost, "backward_weight", op.microbatch, op.chunk);
            break;
          }
        }
      }
      if (!sc_.job.overlap.grad_reduce)
        for (int c = 0; c < V_; ++c) arrive(g, c, kReduce, now());
      for (int c = 0; c < V_; ++c) wait_flag(g, me.reduced[static_cast<std::size_t>(c)]);
      // The optimizer step over every chunk's parameters, once a lazy checkpoint snapshot of them is done.
      if (!me.snapshotted) wait_for_snapshot(g);
      if (sc_.offload) {
        offloaded_step(g);
      } else {
        const double optimizer = gpu_optimizer_seconds(g);
        const double t0 = now();
        sg::this_actor::sleep_for(optimizer);
        records_.ranks[g].times.optimizer += optimizer;
        span(g, TimelineSpan::Stream::compute, "optimizer", -1, -1, t0, now());
      }
      // ZeRO 1/2: gather the updated parameters, overlapped with the next iteration's forwards
      // (none follows the last one) or before the iteration ends.
      const bool overlapped = sc_.job.overlap.param_gather;
      if (gathers && (!overlapped || it + 1 < sc_.job.iterations)) {
        std::fill(me.gathered.begin(), me.gathered.end(), 0);
        for (int c = 0; c < V_; ++c) arrive(g, c, kGather, now());
        if (overlapped) std::fill(awaiting_gather.begin(), awaiting_gather.end(), 1);
        else
          for (int c = 0; c < V_; ++c) wait_flag(g, me.gathered[static_cast<std::size_t>(c)]);
      }
      // Every slot of this iteration has been consumed: clear them before anyone can send the next.
      for (auto* slots : {&me.activations, &me.gradients})
        for (Slot& sl : *slots) sl = Slot{};
      // The iteration ends for all at once (Megatron's global gradient-norm all-reduce and loss
      // reduction synchronise every rank before the next iteration).
      iteration_flops_[static_cast<std::size_t>(it)] += records_.ranks[g].flops - flops_before;
      const double arrive_at = now();
      barrier_->wait();
      records_.ranks[g].times.idle += now() - arrive_at;
      // The checkpoint after the first iteration: every rank saves at once, after the step that
      // synchronises them all (Megatron saves after the optimizer step, which follows the global
      // gradient-norm all-reduce), and the iteration ends when the last rank's stall does.
      if (sc_.checkpoint && it == 0) save_checkpoint(g);
      if (g == 0) {
        const double start = records_.iterations.empty() ? 0.0 : records_.iterations.back().end;
        records_.iterations.push_back({start, now(), iteration_flops_[static_cast<std::size_t>(it)]});
      }
      if (now() > units::kMaxSimulatedSeconds)
        throw InputError(fmt::format("simulated time reached {:g} s, beyond the {:g} s limit, at iteration {}: a "
                                     "bandwidth or compute rate near zero?", now(), units::kMaxSimulatedSeconds, it));
    }
    if (sc_.checkpoint) restore_checkpoint(g);
    ++finished_;
  }

  /// The GPU's optimizer step of group `g` over every chunk's parameters, as paced.
  double gpu_optimizer_seconds(std::size_t g) {
    double optimizer = 0;
    for (int c = 0; c < V_; ++c)
      optimizer += sc_.stages_of(groups_[g].type)[static_cast<std::size_t>(training::model_stage(shape_, groups_[g].pp, c))].optimizer;
    if (sc_.job.stragglers.any()) optimizer *= pace(g);
    return optimizer;
  }

  /// The optimizer step under policies.optimizer_offload: its phases in order, the lanes of a phase
  /// at once; copies are flows of every device of the group (and, simulating one replica, of its
  /// peers) over the node's links, updates run on the host CPU (every device of the node updating
  /// at once) or on the GPU.
  void offloaded_step(std::size_t g) {
    Group& me = groups_[g];
    const double t0 = now();
    for (const training::OffloadPhase& phase : sc_.offload->step.phases) {
      me.lanes_pending = static_cast<int>(phase.size());
      for (const training::OffloadLane& lane : phase) run_lane(g, &lane, 0);
      std::unique_lock lock(*me.mutex);
      while (me.lanes_pending > 0) me.cv->wait(lock);
    }
    records_.ranks[g].times.optimizer += now() - t0;
    span(g, TimelineSpan::Stream::compute, "optimizer_offloaded", -1, -1, t0, now());
    records_.offload_step = std::max(records_.offload_step, now() - t0);
  }

  /// Runs op `i` onwards of `lane` for group `g`, each op when the one before ends.
  void run_lane(std::size_t g, const training::OffloadLane* lane, std::size_t i) {
    Group& me = groups_[g];
    while (i < lane->size() && !((*lane)[i].share > 0)) ++i;  // a zero share does nothing
    if (i == lane->size()) {
      if (--me.lanes_pending == 0) me.cv->notify_all();
      return;
    }
    using Kind = training::OffloadOp::Kind;
    const training::OffloadOp& op = (*lane)[i];
    const double t0 = now();
    if (op.kind == Kind::copy) {
      offload_batch(me, op).launch(*network_, host_, fmt::format("offload-stage{}-dp{}", me.pp, me.dp), failure_,
                                   [this, g, lane, i, t0] {
                                     span(g, TimelineSpan::Stream::offload, training::to_string((*lane)[i]), -1, -1, t0, now());
                                     run_lane(g, lane, i + 1);
                                   });
      return;
    }
    // The CPU of the node that holds the group's first device.
    const auto node = static_cast<std::size_t>(device_rank(me.pp, me.dp, 0) / sc_.slots_per_node());
    const double seconds =
        (op.kind == Kind::gpu_update ? gpu_optimizer_seconds(g) : sc_.offload->cpu_seconds[node]) * op.share;
    sg::Actor::create(fmt::format("update-stage{}-dp{}", me.pp, me.dp), host_, [this, g, lane, i, t0, seconds] {
      failure_.guard([&] {
        sg::this_actor::sleep_for(seconds);
        span(g, TimelineSpan::Stream::offload, training::to_string((*lane)[i]), -1, -1, t0, now());
        run_lane(g, lane, i + 1);
      });
    });
  }

  /// One copy of an offloaded step for every device of the group (and its peer replicas' when one
  /// replica is simulated): the op's share of each device's shard, at the payload's bytes.
  FlowBatch offload_batch(const Group& me, const training::OffloadOp& op) {
    using Payload = training::OffloadOp::Payload;
    const training::OffloadSetup& o = *sc_.offload;
    const double per_parameter = op.payload == Payload::gradients ? o.bytes.gradient
                                 : op.payload == Payload::weights ? o.bytes.weight
                                                                  : o.bytes.states;
    return place_batch(me, op.from, op.to, o.shard_parameters[static_cast<std::size_t>(me.pp)] * per_parameter * op.share);
  }

  /// Each replica's micro-batches of every iteration, packed from its own stream of documents: their
  /// attention work relative to whole-sequence causal attention (the mean of their sequences').
  void pack_documents() {
    if (sc_.sharding) {  // placed on the pool at load
      records_.attention_share_mean = sc_.sharding->share_mean;
      records_.attention_share_min = sc_.sharding->share_min;
      records_.attention_share_max = sc_.sharding->share_max;
      records_.iteration_attention_share = sc_.sharding->iteration_share;
      return;
    }
    const int iterations = sc_.job.iterations;
    attention_share_.assign(static_cast<std::size_t>(D_), std::vector<double>(static_cast<std::size_t>(iterations * M_)));
    double sum = 0, lo = 1, hi = 0;
    for (int d = 0; d < D_; ++d) {
      workload::DocumentPacker packer(*sc_.documents, sc_.job.seq_len, Rng(sc_.seed, fmt::format("documents-dp{}", d)));
      for (auto& share : attention_share_[static_cast<std::size_t>(d)]) {
        share = 0;
        for (std::int64_t b = 0; b < sc_.job.micro_batch; ++b) share += packer.next_sequence();
        share /= static_cast<double>(sc_.job.micro_batch);
        sum += share;
        lo = std::min(lo, share);
        hi = std::max(hi, share);
      }
    }
    records_.attention_share_mean = sum / static_cast<double>(D_ * iterations * M_);
    records_.iteration_attention_share.assign(static_cast<std::size_t>(iterations), 0.0);
    for (int it = 0; it < iterations; ++it) {
      double& mean = records_.iteration_attention_share[static_cast<std::size_t>(it)];
      for (int d = 0; d < D_; ++d)
        for (int mb = 0; mb < M_; ++mb) mean += attention_share_[static_cast<std::size_t>(d)][static_cast<std::size_t>(it * M_ + mb)];
      mean /= static_cast<double>(D_ * M_);
    }
    records_.attention_share_min = lo;
    records_.attention_share_max = hi;
  }

  /// Pass `kind` of model stage `k` for micro-batch `mb` of iteration `it` of group `g`: with packed
  /// documents, its attention core at that micro-batch's share; with documents placed on the data x
  /// context parallel pool, as the group's slot holds them (tokens, attention, rings).
  training::PassCost packed(std::size_t g, int it, int mb, int k, PassKind kind, const training::PassCost& cost) const {
    if (sc_.sharding) return sc_.sharding->pass(it, groups_[g].dp, mb, k, kind, cost);
    if (attention_share_.empty()) return cost;
    return cost.with_attention(attention_share_[static_cast<std::size_t>(groups_[g].dp)][static_cast<std::size_t>(it * M_ + mb)]);
  }

  /// Global rank of device `i` of stage `s` of replica `d` (tiers(s, d) order: context, then tensor).
  int device_rank(int s, int d, std::size_t i) const {
    const int tp = sc_.job.plan.tp;
    return sc_.rank(d, s, static_cast<int>(i) / tp, static_cast<int>(i) % tp);
  }

  /// One copy of every shard the group saves: its devices', and simulating one replica its peers'
  /// too (their copies load the network as the real ones would).
  FlowBatch checkpoint_batch(const Group& me, const training::CheckpointCopy& copy) {
    const training::CheckpointShard& shard = sc_.checkpoint_shards[static_cast<std::size_t>(me.pp)];
    using training::CheckpointPlace;
    if (copy.from != CheckpointPlace::device && copy.to != CheckpointPlace::device)
      return place_batch(me, copy.from, copy.to, shard.total());
    // A copy from the device (a save) or to it (a restore) moves each part from or to where it
    // lives: offloaded states and weights are read from (written back to) host memory or NVMe, and
    // a part already where the copy goes moves nowhere.
    FlowBatch batch;
    for (const auto& [home, bytes] : {std::pair{CheckpointPlace::device, shard.device},
                                      std::pair{CheckpointPlace::host, shard.host},
                                      std::pair{CheckpointPlace::nvme, shard.nvme}}) {
      const CheckpointPlace from = copy.from == CheckpointPlace::device ? home : copy.from;
      const CheckpointPlace to = copy.to == CheckpointPlace::device ? home : copy.to;
      if (bytes > 0 && from != to) add_place_flows(batch, me, from, to, bytes);
    }
    return batch;
  }

  /// `bytes` per device of the group (and of its peer replicas when one replica is simulated)
  /// from place `from` to place `to`, routed as TrainingScenario::checkpoint_route does.
  FlowBatch place_batch(const Group& me, training::CheckpointPlace from, training::CheckpointPlace to, double bytes) {
    FlowBatch batch;
    add_place_flows(batch, me, from, to, bytes);
    return batch;
  }
  /// Adds place_batch's flows to `batch`.
  void add_place_flows(FlowBatch& batch, const Group& me, training::CheckpointPlace from, training::CheckpointPlace to,
                       double bytes) {
    const int last = R_ < D_ ? D_ : me.dp + 1;
    std::size_t added = 0;
    for (int d = me.dp; d < last; ++d)
      for (std::size_t i = 0; i < tiers(me.pp, d).size(); ++i) {
        const auto [src, dst] = sc_.checkpoint_route(device_rank(me.pp, d, i), from, to);
        batch.add(src, dst, bytes);
        ++added;
      }
    records_.transfers += static_cast<std::int64_t>(added);
  }

  /// Runs `copy` for the group and waits for it.
  void copy_and_wait(std::size_t g, const training::CheckpointCopy& copy, const char* name) {
    Group& me = groups_[g];
    me.copied = 0;
    checkpoint_batch(me, copy).launch(*network_, host_, fmt::format("{}-stage{}-dp{}", name, me.pp, me.dp), failure_, [&me] {
      me.copied = 1;
      me.cv->notify_all();
    });
    wait_until(me, me.copied);
  }

  /// The checkpoint policy's copies: the blocking ones while the group waits (the stall), the rest
  /// in the background, each after the one before.
  void save_checkpoint(std::size_t g) {
    Group& me = groups_[g];
    CheckpointRecord& rec = records_.checkpoint;
    const double t0 = now();
    rec.start = rec.taken ? std::min(rec.start, t0) : t0;
    rec.taken = true;
    rec.bytes_per_gpu = std::max(rec.bytes_per_gpu, sc_.checkpoint_bytes[static_cast<std::size_t>(me.pp)]);
    std::size_t c = 0;
    for (; c < checkpoint_copies_.size() && checkpoint_copies_[c].blocking; ++c)
      copy_and_wait(g, checkpoint_copies_[c], "checkpoint");
    me.persisted = 0;
    for (std::size_t k = c; k < checkpoint_copies_.size(); ++k)
      if (checkpoint_copies_[k].lazy) me.snapshotted = 0;
    persist(g, c);
    span(g, TimelineSpan::Stream::checkpoint, "checkpoint_stall", -1, -1, t0, now());
    barrier_->wait();  // the job resumes when every rank has its snapshot
    records_.ranks[g].times.checkpoint += now() - t0;
    rec.stall = std::max(rec.stall, now() - t0);
    rec.stall_end = std::max(rec.stall_end, now());
  }

  /// Waits for the group's lazy checkpoint snapshot before the optimizer overwrites what it reads.
  void wait_for_snapshot(std::size_t g) {
    Group& me = groups_[g];
    const double t0 = now();
    wait_until(me, me.snapshotted);
    records_.ranks[g].times.checkpoint += now() - t0;
    records_.checkpoint.lazy_wait = std::max(records_.checkpoint.lazy_wait, now() - t0);
    if (now() > t0) span(g, TimelineSpan::Stream::checkpoint, "checkpoint_snapshot_wait", -1, -1, t0, now());
  }

  /// Background copy `c` onwards of the group's checkpoint.
  void persist(std::size_t g, std::size_t c) {
    Group& me = groups_[g];
    if (c == checkpoint_copies_.size()) {
      records_.checkpoint.persist_end = std::max(records_.checkpoint.persist_end, now());
      me.persisted = 1;
      me.cv->notify_all();
      return;
    }
    const double t0 = now();
    checkpoint_batch(me, checkpoint_copies_[c])
        .launch(*network_, host_, fmt::format("persist-stage{}-dp{}", me.pp, me.dp), failure_, [this, g, c, t0] {
          const bool lazy = checkpoint_copies_[c].lazy;
          span(g, TimelineSpan::Stream::checkpoint, lazy ? "checkpoint_snapshot" : "checkpoint_persist", -1, -1, t0, now());
          if (lazy) {
            groups_[g].snapshotted = 1;
            groups_[g].cv->notify_all();
          }
          persist(g, c + 1);
        });
  }

  /// After the last iteration and every persist: all groups read their shards back at once.
  void restore_checkpoint(std::size_t g) {
    Group& me = groups_[g];
    wait_until(me, me.persisted);
    barrier_->wait();
    const double t0 = now();
    copy_and_wait(g, {sc_.checkpoint->restore_from(), training::CheckpointPlace::device, true}, "restore");
    records_.checkpoint.restore = std::max(records_.checkpoint.restore, now() - t0);
    span(g, TimelineSpan::Stream::checkpoint, "checkpoint_restore", -1, -1, t0, now());
  }

  /// Starts the copies that run beside a pass of model stage `k` whose layers take `per_layer` each:
  /// with activation swapping, a forward's activations go to host after its first layer and a
  /// backward's come back from its start; with the weights offloaded, every pass fetches the
  /// device's shard from its start. A fetch is needed from the first layer on (prefetched layer by
  /// layer), so the pass ends no sooner than one layer after it.
  void start_pass_copies(std::size_t g, int k, bool forward, double per_layer, int mb, int chunk) {
    using training::CheckpointPlace;
    if (sc_.swap) {
      const double bytes = sc_.swap->bytes[static_cast<std::size_t>(k)];
      if (forward) start_copy(g, CheckpointPlace::device, CheckpointPlace::host, bytes, per_layer, 0, "activations_to_host", mb, chunk);
      else start_copy(g, CheckpointPlace::host, CheckpointPlace::device, bytes, 0, per_layer, "activations_from_host", mb, chunk);
    }
    if (sc_.offload && sc_.offload->policy->params() != CheckpointPlace::device) {
      const double shard = sc_.stages[static_cast<std::size_t>(k)].param_bytes / sc_.job.plan.weight_replicas();
      start_copy(g, sc_.offload->policy->params(), CheckpointPlace::device, shard, 0, per_layer, "weights_fetch", mb, chunk);
    }
  }

  /// Starts, `delay` from now, a copy of `bytes` per device of the group (and of its peers when one
  /// replica is simulated) from `from` to `to`; the pass may end `tail` after it does.
  void start_copy(std::size_t g, training::CheckpointPlace from, training::CheckpointPlace to, double bytes, double delay,
                  double tail, std::string_view name, int mb, int chunk) {
    Group& me = groups_[g];
    ++me.copies_pending;
    sg::Actor::create(fmt::format("copy-stage{}-dp{}", me.pp, me.dp), host_, [=, this] {
      failure_.guard([&] {
        if (delay > 0) sg::this_actor::sleep_for(delay);
        const double t0 = now();
        place_batch(groups_[g], from, to, bytes)
            .launch(*network_, host_, fmt::format("copy-stage{}-dp{}", groups_[g].pp, groups_[g].dp), failure_,
                    [this, g, t0, tail, name, mb, chunk] {
                      Group& done = groups_[g];
                      span(g, TimelineSpan::Stream::offload, name, mb, chunk, t0, now());
                      done.copies_ready = std::max(done.copies_ready, now() + tail);
                      if (--done.copies_pending == 0) done.cv->notify_all();
                    });
      });
    });
  }

  /// Waits for the copies beside the pass just computed; the wait beyond it counts as exposed.
  void finish_pass_copies(std::size_t g) {
    Group& me = groups_[g];
    if (me.copies_pending == 0 && me.copies_ready == 0) return;  // none ran: no simcall on the pass's path
    const double t0 = now();
    {
      std::unique_lock lock(*me.mutex);
      while (me.copies_pending > 0) me.cv->wait(lock);
    }
    if (me.copies_ready > now()) sg::this_actor::sleep_until(me.copies_ready);
    me.copies_ready = 0;
    records_.ranks[g].times.offload += now() - t0;
  }

  /// Counts a backward of `chunk` (the part that produces weight gradients) about to run for
  /// `cost`; with overlap, the chunk's reduction starts with its last one, whose buckets are
  /// sent as they are produced (Megatron's --overlap-grad-reduce), complete when it ends.
  void last_backward(std::size_t g, int chunk, std::vector<int>& done, const training::PassCost& cost) {
    if (++done[static_cast<std::size_t>(chunk)] == shape_.microbatches_per_chunk() && sc_.job.overlap.grad_reduce)
      arrive(g, chunk, kReduce, now() + cost.seconds);
  }


  const TrainingScenario& sc_;
  TrainingOptions options_;
  /// Pipeline stages, data-parallel replicas, of which simulated (D, or 1 with one_replica),
  /// virtual stages, micro-batches, model stages.
  const int P_, D_, R_, V_, M_, K_;
  const training::PipelineShape shape_;
  std::vector<std::vector<PipelineOp>> order_;
  sg::Host* host_ = nullptr;
  std::unique_ptr<TransferNetwork> network_;
  std::vector<Group> groups_;
  std::vector<std::vector<std::string>> tiers_;  ///< per (stage, replica): see tiers()
  /// A data-parallel collective of one (stage, chunk) gathering its participants.
  struct Gathering {
    int arrived = 0;    ///< replicas arrived so far
    double ready = 0;   ///< when the last arrived replica's data is complete
  };
  std::vector<Gathering> collectives_[2];  ///< per phase, per (stage, chunk)
  sg::BarrierPtr barrier_;
  std::vector<training::CheckpointCopy> checkpoint_copies_;
  std::vector<std::vector<double>> attention_share_;  ///< per replica, per (iteration, micro-batch): see pack_documents
  TrainingRecords records_;
  std::size_t finished_ = 0;
  ActorFailure failure_;
  std::vector<double> iteration_flops_;  ///< per iteration: executed per device, summed over the groups
};

}  // namespace

TrainingRecords run_training(const TrainingScenario& scenario, TrainingOptions options) {
  return TrainingRun(scenario, options).run();
}

}  // namespace hetsim::sim
