#pragma once
// Controllers are global serving policies that act through hooks and the cluster facade
// (sim/serving/cluster_facade): prefill/decode handoff, migration, autoscaling, fairness. A run
// has any number of them (policies.controllers: [{impl: ...}, ...]); the engine calls every hook
// of every controller, in the listed order.
#include <cstddef>

#include "sim/serving/sequence.hpp"
#include "sim/core/request.hpp"
#include "sim/serving/cluster_facade.hpp"

namespace hetsim::policies {

class Controller {
 public:
  static constexpr const char* kKind = "controller";
  virtual ~Controller() = default;
  /// Called once before the run with the facade it acts through (valid for the whole run).
  virtual void attach(serving::ClusterFacade&) {}
  /// Whether it migrates running sequences (the run then reports migrations).
  virtual bool migrates() const { return false; }
  /// Whether it starts and stops instances (the run then reports scaling).
  virtual bool scales() const { return false; }
  /// Whether it looks at and changes the cluster only in its timers (ClusterFacade::set_timer),
  /// never in the hooks below, which it leaves as they are. The engine then skips its hooks and
  /// lets replicas run steps ahead of the clock up to its next timer (coalescing: a timer sees
  /// every replica as it would without).
  virtual bool acts_only_in_timers() const { return false; }
  /// A request arrived and was routed to `instance`.
  virtual void on_arrival(Sequence&, std::size_t /*instance*/) {}
  /// `seq` was admitted into a step on `instance` for the first time.
  virtual void on_admit(Sequence&, std::size_t /*instance*/) {}
  /// `instance` finished a step.
  virtual void on_step_end(std::size_t /*instance*/) {}
  /// `seq` produced its first token on `instance`. Returning true hands it off: the instance drops
  /// it from its running sequences but keeps its KV until the controller moves it (move_sequence).
  virtual bool on_prefill_done(Sequence&, std::size_t /*instance*/) { return false; }
  /// `seq` finished on `instance`.
  virtual void on_finish(Sequence&, std::size_t /*instance*/) {}
};

}  // namespace hetsim::policies
