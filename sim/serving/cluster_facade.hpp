#pragma once
// What global policies (controllers: prefill/decode handoff, migration, autoscaling, fairness)
// may see and do across instances. The engine implements it; controllers never touch SimGrid.
#include <cstddef>
#include <functional>

#include "sim/serving/router.hpp"
#include "sim/serving/sequence.hpp"
#include "sim/serving/instance_role.hpp"

namespace hetsim::serving {

class ClusterFacade {
 public:
  virtual ~ClusterFacade() = default;
  virtual double now() const = 0;
  virtual std::size_t instances() const = 0;
  virtual InstanceRole role(std::size_t instance) const = 0;
  virtual policies::ReplicaLoad load(std::size_t instance) const = 0;
  /// Device KV blocks `instance` would need to hold `seq`'s computed tokens, and whether it has
  /// them free now.
  virtual bool can_hold(const policies::Sequence& seq, std::size_t instance) const = 0;
  /// Moves a running `seq` with its KV from instance `from` to `to`: `to` reserves device blocks
  /// now, every TP rank's shard crosses the platform network, then `from` frees its blocks and
  /// `seq` joins `to`'s running sequences. Call it from the on_prefill_done hook of `from` and
  /// return true (the hand-off). Calls `done` when it has arrived.
  virtual void move_sequence(policies::Sequence& seq, std::size_t from, std::size_t to,
                             std::function<void()> done = {}) = 0;
  /// Calls `fn` at simulated time `at` (>= now).
  virtual void set_timer(double at, std::function<void()> fn) = 0;
};

}  // namespace hetsim::serving
