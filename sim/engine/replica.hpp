#pragma once
// One serving replica's state machine, free of SimGrid: admission (or rejection with a reason),
// step planning through its scheduler, step pricing through the cost model, and the token/KV
// bookkeeping when a step ends. The engine drives it and supplies the clock.
#include <vector>

#include "hw/cost_model.hpp"
#include "models/step_ops.hpp"
#include "policies/router/router.hpp"
#include "policies/scheduler/scheduler.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/metrics/serving_metrics.hpp"
#include "sim/engine/scenario.hpp"

namespace hetsim::sim {

/// KV copies a step makes before it computes (swap preemption), per device of the replica.
struct KvCopies {
  std::int64_t out_tokens = 0, in_tokens = 0;
  double out_bytes = 0, in_bytes = 0;  ///< per device; every TP rank moves its own shard
  bool any() const { return out_tokens > 0 || in_tokens > 0; }
};

class Replica {
 public:
  Replica(int index, ReplicaPlan& plan, const models::ModelSpec& model, std::int64_t max_model_len, Recorder& recorder);

  /// Why `seq` could never run here (context length, KV capacity, step token budget); empty if it can.
  std::string rejection_reason(const policies::Sequence& seq) const;
  /// Queues `seq` (fresh) or rejects it, with a reason, if it could never run here.
  bool accept(policies::Sequence& seq, double now);
  bool has_work() const { return !queues_.waiting().empty() || !queues_.running().empty(); }
  /// Plans the next step at `now` and returns its duration.
  double begin_step(double now);
  /// KV the planned step must copy before computing; the engine moves it over the node's links
  /// and reports the time it took with copies_done().
  const KvCopies& kv_copies() const { return copies_; }
  void copies_done(double seconds) { row_.set(serving_metrics::kTransferTime, seconds); }
  /// Applies the planned step's effects at its end time.
  void end_step(double end);
  policies::ReplicaLoad load() const;

 private:
  int index_;
  ReplicaPlan& plan_;
  const models::ModelSpec& model_;
  std::int64_t max_model_len_;
  Recorder& recorder_;
  hw::CostModel cost_;
  policies::ReplicaQueues queues_;
  std::vector<policies::ScheduledItem> batch_;
  std::vector<Op> ops_;
  KvCopies copies_;
  StepRow row_;
  std::int64_t outstanding_ = 0;
};

}  // namespace hetsim::sim
