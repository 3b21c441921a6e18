#pragma once
// What global policies (controllers: prefill/decode handoff, migration, autoscaling, fairness)
// may see and do across instances. The engine implements it; controllers never touch SimGrid.
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sim/serving/router.hpp"
#include "sim/serving/sequence.hpp"
#include "sim/serving/instance_role.hpp"
#include "sim/serving/instance_state.hpp"

namespace hetsim::serving {

class ClusterFacade {
 public:
  virtual ~ClusterFacade() = default;
  virtual double now() const = 0;
  virtual std::size_t instances() const = 0;
  virtual InstanceRole role(std::size_t instance) const = 0;
  /// The pool `instance` belongs to (its name in the scenario, or its device's).
  virtual const std::string& pool(std::size_t instance) const = 0;
  /// The instance on the same devices as `instance` (semi-PD: its prefill or decode worker, which
  /// shares its KV memory: a hand-off between them moves no bytes), if any.
  virtual std::optional<std::size_t> partner(std::size_t instance) const = 0;
  /// Where `instance` is in its life (every instance starts active).
  virtual InstanceState state(std::size_t instance) const = 0;
  /// How many instances are in state `s` now.
  virtual std::size_t count(InstanceState s) const = 0;
  virtual policies::ReplicaLoad load(std::size_t instance) const = 0;
  /// Whether `instance` is active and has the device KV blocks `seq`'s computed tokens need free
  /// now (an instance that is starting, draining or stopped takes no sequence).
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
  /// Where a starting instance loads its weights from (cold start). Each TP rank loads its shard
  /// over the platform's links, all ranks at once, contending with every other flow.
  struct WeightSource {
    enum class Kind : unsigned char {
      tier,   ///< a memory or storage tier of the instance's own node (local NVMe, host DRAM page cache)
      store,  ///< a storage node of the cluster (cluster.kv_stores), over the NICs and the fabric
      peer,   ///< an active instance of the same pool, rank to rank (NVLink inside a node, NICs across)
    };
    Kind kind = Kind::tier;
    std::string name;     ///< the tier ("" = the node's first DRAM tier) or the store's name
    double startup = 0;   ///< engine start-up after the weights landed (profiling, KV allocation, CUDA graphs)
    /// The loader's own rate limit per rank, bytes/s (0: none; the route alone bounds it). A rank
    /// is ready no sooner than shard / this, whatever the route allows.
    double loader_bandwidth = 0;
  };
  /// Why `instance` could not load from `source` (no such tier or store, unreachable), in words
  /// for an error message; empty if it can.
  virtual std::string weight_source_problem(const WeightSource& source, std::size_t instance) const = 0;
  /// Starts stopped `instance`: it loads its weights from `source`, starts its engine, then becomes
  /// active and routers see it. A draining instance becomes active again at once (nothing to load).
  /// False (nothing done) if it is active or starting, or `source` names a peer and none is active.
  virtual bool start_instance(std::size_t instance, const WeightSource& source) = 0;
  /// Stops active `instance`: routers and controllers stop sending it work; it finishes what it
  /// holds (or controllers migrate it away), then is stopped, its KV cache forgotten. False
  /// (nothing done) unless it is active.
  virtual bool stop_instance(std::size_t instance) = 0;
  /// Calls `fn` at simulated time `at` (>= now).
  void set_timer(double at, std::function<void()> fn) { set_timer(at, std::move(fn), {}); }
  /// As above; `idle`, called any time up to `at`, says whether `fn` would neither look at nor
  /// change the cluster as it stands then (a drain trigger with nothing draining). Replicas run
  /// steps ahead of the clock past a pending timer only while it is idle (coalescing), and an idle
  /// timer does not make the run last longer. What `idle` reads must change only in non-idle
  /// timers or arrivals (instance states do).
  virtual void set_timer(double at, std::function<void()> fn, std::function<bool()> idle) = 0;
};

}  // namespace hetsim::serving
