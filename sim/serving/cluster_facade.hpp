#pragma once
// What global policies (controllers: prefill/decode handoff, migration, autoscaling, fairness)
// may see and do across instances. The engine implements it; controllers never touch SimGrid.
#include <cstddef>
#include <deque>
#include <functional>
#include <vector>

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
  /// How a KV hand-off travels.
  struct MoveOptions {
    /// Seconds before the hand-off during which the KV was being computed and streamed out layer
    /// by layer (0: sent after the prefill). All but the last layer's share may already be on its
    /// way: what the route's idle bandwidth could carry in (layers - 1) / layers of that window.
    double streamed_window = 0;
    double setup = 0;  ///< per flow: connection and registration before the first byte (link time)
    /// The client sees its first token when the KV has landed (the decode instance streams every
    /// token, as vLLM's and llm-d's disaggregated serving do); false: when the prefill made it
    /// (Splitwise's prompt machine answers first).
    bool first_token_on_landing = false;
  };
  /// Moves a running `seq` with its KV from instance `from` to `to`: `to` reserves device blocks
  /// now, the KV crosses the platform network re-sharded from `from`'s TP ranks to `to`'s (each
  /// destination rank receives its heads from the source ranks that hold them), then `from` frees
  /// its blocks and `seq` joins `to`'s running sequences. Call it from the on_prefill_done hook of
  /// `from` and return true (the hand-off). Calls `done` when it has arrived.
  virtual void move_sequence(policies::Sequence& seq, std::size_t from, std::size_t to, MoveOptions options,
                             std::function<void()> done = {}) = 0;
  /// How a running sequence migrates (Llumnix, Sun et al. OSDI'24).
  enum class MigrationMode : unsigned char {
    live,       ///< KV copied in stages while it decodes on the source, then a short stop-and-copy
    blocking,   ///< stopped, all of its KV copied, resumed on the target
    recompute,  ///< stopped, its KV dropped, prompt and output recomputed on the target
  };
  struct MigrationOptions {
    MigrationMode mode = MigrationMode::live;
    int max_stages = 3;                      ///< copy stages at most, the stop-and-copy included (Llumnix's default)
    std::int64_t last_stage_max_blocks = 16;  ///< stop and copy once what is left fits in this many blocks (Llumnix's default)
    double setup = 0;                        ///< per flow, before the first byte
  };
  /// Starts migrating running, decoding `seq` from instance `from` to `to`; false (nothing done)
  /// if it is not running and decoding there, already migrating, or `to` has no room for its KV.
  /// A migration whose sequence finishes or is preempted on the source before the stop gives up.
  virtual bool migrate(policies::Sequence& seq, std::size_t from, std::size_t to, MigrationOptions options) = 0;
  /// The sequences running on `instance` now (in admission order).
  virtual const std::vector<policies::Sequence*>& running(std::size_t instance) const = 0;
  /// The sequences waiting on `instance` now (in queue order).
  virtual const std::deque<policies::Sequence*>& waiting(std::size_t instance) const = 0;
  /// Arrivals are over and every instance is idle: nothing left to balance.
  virtual bool winding_down() const = 0;
  /// Calls `fn` at simulated time `at` (>= now).
  virtual void set_timer(double at, std::function<void()> fn) = 0;
};

}  // namespace hetsim::serving
