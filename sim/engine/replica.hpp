#pragma once
// One serving replica's state machine, free of SimGrid: admission (or rejection with a reason),
// step planning through its scheduler, step pricing through the cost model, and the token/KV
// bookkeeping when a step ends. The engine drives it and supplies the clock.
#include <algorithm>
#include <functional>
#include <tuple>
#include <optional>
#include <vector>

#include "hw/cost_model.hpp"
#include "sim/core/op_graph.hpp"
#include "sim/serving/step_pricer.hpp"
#include "models/step_ops.hpp"
#include "sim/serving/router.hpp"
#include "sim/serving/scheduler.hpp"
#include "sim/metrics/kv_tier_windows.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/metrics/serving_metrics.hpp"
#include "sim/scenario/scenario.hpp"

namespace hetsim::sim {

class Replica {
 public:
  using Controllers = std::vector<std::unique_ptr<policies::Controller>>;
  Replica(int index, ReplicaPlan& plan, const models::ModelSpec& model, std::int64_t max_model_len, Recorder& recorder,
          const Controllers* controllers = nullptr);

  /// Why a request could never run on a replica, cheapest check first.
  enum class Misfit { none, max_model_len, kv_capacity, batch_tokens };
  /// What misfit() depends on: replicas with equal keys accept and reject the same requests.
  using FitKey = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>;
  Misfit misfit(const policies::Sequence& seq) const;
  FitKey fit_key() const;
  /// Why `seq` could never run here (context length, KV capacity, step token budget); empty if it can.
  std::string rejection_reason(const policies::Sequence& seq) const;
  /// Queues `seq` (fresh) or rejects it, with a reason, if it could never run here.
  bool accept(policies::Sequence& seq, double now);
  bool has_work() const { return !queues_.waiting().empty() || !queues_.running().empty(); }
  /// When the next step can start: the end of the last one, or when work arrived at an idle
  /// replica. Exact times, not SimGrid's clock (see Executor::try_run_ahead).
  double free_at() const { return free_at_; }
  /// Plans the next step at `now` as an op graph for the executor: the priced model step on
  /// `engine`, after the KV copies it needs (swap preemption: every TP rank moves its own shard
  /// over its own route, out and in concurrently).
  void plan_step(double now, EngineId engine, OpGraph& graph);
  /// Applies the executed step's effects at its end time (graph nodes carry their times).
  void end_step(const OpGraph& graph, double end);
  struct SteadyRun {
    std::int64_t ahead = 0;  ///< steps run ahead of the clock
    bool planned = false;    ///< the next step, which reaches the horizon, is planned in the graph
  };
  /// Runs, at once, the consecutive pure-decode steps that end before `horizon` and that nothing
  /// could change (see replica.cpp); each step is recorded as plan_step + end_step would. If the
  /// next such step reaches `horizon`, plans it on `engine` in `graph` instead (planned: run it as
  /// an event, then end_steady_step). Nothing ahead and nothing planned: plan the next step as
  /// usual. Only for runs whose steps may run ahead of the clock, without controller hooks.
  SteadyRun run_steady_decodes(double horizon, EngineId engine, OpGraph& graph);
  /// Ends the step run_steady_decodes planned, at `end`.
  void end_steady_step(double end);
  policies::ReplicaLoad load() const;
  /// Leading tokens of waiting `seq` (not yet on any replica) this replica's KV cache holds, in
  /// any tier: what admitting it here would find (no side effect on the cache).
  std::int64_t cached_prefix_tokens(policies::Sequence& seq) const;
  /// At the end of a run: InvariantError unless the KV store's counters recount exactly and no
  /// block is still referenced (every reference taken was given back).
  void check_drained() const;
  const ReplicaPlan& plan() const { return plan_; }
  /// Reports the KV tiers to `windows` (kv_tiers.csv) as steps move from window to window.
  void report_kv_tiers(KvTierWindows* windows) { kv_windows_ = windows; }
  /// Op offload over the platform (ReplicaPlan::offload_tier): the engine of the node's host that
  /// runs the offloaded ops, shared with the node's other replicas that offload there.
  void offload_on(EngineId host) { offload_engine_ = host; }
  /// At the end of a run: the last window of kv_tiers.csv closes.
  void close_kv_window();
  /// Called with a request's id and end time when it completes here (closed-loop clients wait for it).
  void on_complete(std::function<void(std::int64_t id, double end)> listener) { completed_ = std::move(listener); }
  /// Called with each sequence that completed here, once nothing on this instance refers to it
  /// any more (the engine recycles its storage).
  void on_release(std::function<void(policies::Sequence&)> listener) { released_ = std::move(listener); }
  /// Called with the new count whenever the outstanding requests change (the routers' fleet index).
  void on_outstanding(std::function<void(std::int64_t)> listener) { outstanding_changed_ = std::move(listener); }

  // Moving a running sequence between instances (through the cluster facade).
  /// Whether this instance has the device blocks for `seq`'s computed tokens and its next token.
  bool can_hold(const policies::Sequence& seq) const;
  /// Takes a handed-off `seq`'s block table out of it; its blocks stay in use until release_kv.
  std::vector<serving::BlockId> detach_kv(policies::Sequence& seq);
  void release_kv(const std::vector<serving::BlockId>& blocks);
  /// Reserves device blocks for `seq`'s computed tokens (an InvariantError if they are not free).
  void reserve_kv(policies::Sequence& seq);
  /// `seq` (KV reserved and landed at `now`) joins the running sequences.
  void adopt(policies::Sequence& seq, double now);
  /// `seq`, holding no KV, joins the front of the waiting queue at `now` (recomputes its context).
  void requeue(policies::Sequence& seq, double now);

  // Migrating a running sequence (Llumnix): staged copies into a shadow block table, then a pause.
  const std::vector<policies::Sequence*>& running() const { return queues_.running(); }
  const std::deque<policies::Sequence*>& waiting() const { return queues_.waiting(); }
  bool is_running(const policies::Sequence& seq) const;
  /// Grows `shadow` (a block table no sequence runs on) to hold `tokens` tokens; false if the
  /// blocks are not free.
  bool reserve_shadow(policies::Sequence& shadow, std::int64_t tokens);
  void release_shadow(policies::Sequence& shadow) { plan_.kv->release(shadow); }
  /// Takes running `seq` out of the running set at the end of the step in flight (or the next),
  /// so that its KV stops changing; `done(true)` then, with `seq` handed off and its blocks kept
  /// until release_kv, or `done(false)` if it finished or was preempted first.
  void request_pause(policies::Sequence& seq, std::function<void(bool)> done);

 private:
  /// Pauses requested for migrations, between steps: the KV of a paused sequence no longer changes.
  void serve_pauses();
  /// InvariantError unless the scheduler's batch can run (see replica.cpp).
  void check_batch();
  /// Speculative decoding: the drafts decoding `seq` proposes this step (0 without speculation,
  /// with one token left to produce, or without device blocks for them), its KV grown to hold them.
  std::int64_t plan_drafts(policies::Sequence& seq);
  /// The step row's values that describe the batch (the rest are set when it is priced and ends).
  /// The step row's values from the pricer's last step (`draft_gpu`: the drafter's passes before it).
  void set_priced(double draft_gpu);
  /// Op offload with link: platform: the offload side's ops on the node host's engine and the link
  /// traffic as flows in `graph` (after the GPU's compute when the sides take turns, beside it when
  /// they are pipelined).
  void add_offload_side(OpGraph& graph);
  void set_row(double start, const models::BatchShape& shape, std::int64_t batch_seqs, std::int64_t swap_out_tokens,
               std::int64_t swap_in_tokens);
  void add_outstanding(std::int64_t delta) {
    outstanding_ += delta;
    if (outstanding_changed_) outstanding_changed_(outstanding_);
  }
  /// Work arrives at `now`: an idle replica starts its next step then.
  void work_arrives(double now) {
    if (!has_work()) free_at_ = std::max(free_at_, now);
  }

  int index_;
  ReplicaPlan& plan_;
  const Controllers* controllers_;
  const models::ModelSpec& model_;
  std::int64_t max_model_len_;
  Recorder& recorder_;
  serving::StepPricer pricer_;
  std::optional<serving::StepPricer> draft_pricer_;  ///< the drafter's passes (speculative decoding)
  std::vector<std::int64_t> drafts_;     ///< per batch item: drafts verified this step
  std::vector<std::int64_t> accepted_;   ///< per batch item: of them, accepted (drawn when the step ends)
  policies::ReplicaQueues queues_;
  std::vector<policies::ScheduledItem> batch_;
  std::vector<NodeId> move_ids_;  ///< the step's move nodes (reused: no allocation per step)
  KvTierWindows* kv_windows_ = nullptr;
  std::int64_t kv_window_ = -1;      ///< the window of kv_tiers.csv the last step fell in
  std::int64_t lookup_total_ = 0;    ///< prompt tokens looked up in the prefix cache so far
  std::vector<NodeId> layerwise_ids_;  ///< of them, loads streamed layer by layer under the compute
  NodeId step_node_ = 0;                   ///< the step's compute (all of it, or all but its last layer)
  std::optional<EngineId> offload_engine_;  ///< offload over the platform: the node host's engine
  std::optional<NodeId> last_layer_node_;  ///< the last layer's compute when loads stream layer by layer
  std::uint64_t batch_count_ = 0;  ///< steps planned: marks batched sequences (check_batch)
  StepRow row_;
  // run_steady_decodes' scratch (reused: no allocation per call): when each running sequence
  // next needs a KV block (step, running index; a min-heap), and its computed and generated
  // tokens when the call began.
  std::vector<std::pair<std::int64_t, std::size_t>> steady_;
  std::vector<std::pair<std::int64_t, std::int64_t>> steady_base_;
  /// The planned steady step's batch: the first this many running sequences (a migration may
  /// append one while it runs).
  std::size_t steady_batch_ = 0;
  std::int64_t outstanding_ = 0;
  double free_at_ = 0;
  std::function<void(std::int64_t, double)> completed_;
  std::function<void(std::int64_t)> outstanding_changed_;
  std::function<void(policies::Sequence&)> released_;
  std::vector<std::pair<policies::Sequence*, std::function<void(bool)>>> pauses_;  ///< requested, served at a step's end
};

}  // namespace hetsim::sim
