#pragma once
// Plain result records kept in memory during a run: one per request, one per instance (what the
// recorder counts itself; declared step metrics are aggregated generically), and the step row
// components emit into.
#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/metric.hpp"

namespace hetsim::sim {

/// dropped: never admitted (serving.over_length: drop).
enum class RequestStatus : std::uint8_t { pending, completed, rejected, dropped };

/// What the engine knows of a request when it issues it, beyond its lengths.
struct ArrivalFacts {
  int client = -1;     ///< closed loop: the client that sent it; -1 in an open loop
  double think = -1;   ///< closed loop: the think time before it; -1 for a client's first request
  bool clipped = false;  ///< serving.over_length: clip shortened it to fit max_model_len
  std::int64_t original_prompt_tokens = 0;  ///< lengths before clipping
  std::int64_t original_output_tokens = 0;
};

struct RequestRecord {
  std::int64_t id = 0;
  double arrival = 0;
  double first_scheduled = -1;
  double first_token = -1;
  double completion = -1;
  std::int64_t prompt_tokens = 0;
  std::int64_t output_tokens = 0;
  int replica = -1;             ///< where it was first scheduled (its prefill)
  int completion_replica = -1;  ///< where it finished (its decode instance under P/D disaggregation)
  int preemptions = 0;
  std::int64_t cached_tokens = 0;  ///< prompt tokens found in the prefix cache when first admitted
  double kv_handoff_bytes = 0;     ///< KV bytes sent when it moved between instances (P/D), all ranks
  double kv_handoff_s = -1;        ///< from the decode reservation to the KV landing; -1: never moved
  std::int32_t migrations = 0;     ///< live migrations between instances while it decoded
  std::int64_t session = -1;       ///< multi-turn sessions: its conversation and turn
  std::int32_t turn = 0;
  std::int32_t tenant = -1;        ///< workload.tenants: who sent it, and its priority class
  std::int32_t priority = 0;
  RequestStatus status = RequestStatus::pending;
  std::string reason;  ///< why it was rejected or dropped
  ArrivalFacts facts;

  double ttft() const { return first_token - arrival; }
  double e2e() const { return completion - arrival; }
  /// Mean time per output token after the first; only defined for output_tokens > 1.
  double tpot() const { return (completion - first_token) / static_cast<double>(output_tokens - 1); }
};

/// One migration of a running sequence between instances (Llumnix).
struct MigrationRecord {
  std::int64_t request = 0;
  int from = -1, to = -1;
  double start = 0, end = 0;
  double bytes = 0;      ///< KV bytes copied, every stage and rank
  double last_stage_bytes = 0;  ///< of which in the stop-and-copy
  int stages = 0;        ///< copy stages run, the stop-and-copy included
  double downtime = 0;   ///< from the stop to the resumption on the target (the stop-and-copy)
  bool aborted = false;  ///< gave up: the sequence finished, was preempted, or the target filled up
};

/// A change in an instance's life under elastic capacity (sim/serving/instance_state.hpp).
enum class ScalingEvent : unsigned char {
  start,   ///< a stopped instance begins its cold start (weights loading, engine starting)
  ready,   ///< it is active: routers send it requests
  drain,   ///< an active instance takes no new work and finishes what it holds
  revive,  ///< a draining instance is active again (nothing to load)
  stop,    ///< drained: its devices are released
};
constexpr const char* to_string(ScalingEvent e) {
  switch (e) {
    case ScalingEvent::start: return "start";
    case ScalingEvent::ready: return "ready";
    case ScalingEvent::drain: return "drain";
    case ScalingEvent::revive: return "revive";
    case ScalingEvent::stop: return "stop";
  }
  return "?";
}
struct ScalingRecord {
  double time = 0;
  int instance = -1;
  ScalingEvent event = ScalingEvent::start;
  double weight_bytes = 0;  ///< ready: the weight bytes its ranks loaded, all ranks
  double seconds = 0;       ///< ready: since its start (the cold start); stop: since its drain
};

/// What one tier of a caching KV manager did over a run (tokens are one device's shard).
struct KvTierRecord {
  std::string name;                  ///< "device", the node's tier name, or "STORE/TIER" for a shared store
  bool shared = false;               ///< one store for all instances (counted once, not per instance)
  std::int64_t capacity_blocks = 0;
  std::int64_t used_blocks = 0;      ///< referenced by sequences (now: kv_tiers.csv only)
  std::int64_t cached_blocks = 0;    ///< free, content kept (now: kv_tiers.csv only)
  std::int64_t hit_tokens = 0;       ///< prompt tokens found here (loaded from here, for lower tiers)
  std::int64_t written_tokens = 0;   ///< tokens copied into it (lower tiers)
  std::int64_t evicted_blocks = 0;   ///< cached blocks dropped from it to make room
  std::int64_t expired_blocks = 0;   ///< cached blocks dropped by the tier's time to live
  double load_seconds = 0;           ///< estimated time of the loads from it, alone on the route
  double recompute_seconds = 0;      ///< estimated time to compute those tokens instead
};

struct ReplicaRecord {
  std::int64_t steps = 0;
  double busy_time = 0;  ///< seconds spent in steps
  std::int64_t completed = 0;
  std::int64_t preemptions = 0;
};

/// What one step did: when, on which instance, and one value per declared step metric (a flat
/// array indexed by StepMetric::slot; metrics the run does not have are simply not written).
struct StepRow {
  int replica = 0;
  double start = 0;
  double duration = 0;
  std::vector<double> values = std::vector<double>(metrics::catalog().step_slots().size(), 0.0);

  /// Emits `value` for `metric` (a store; integers are exact up to 2^53).
  template <class T>
  void set(metrics::StepMetric metric, T value) {
    values[metric.slot] = static_cast<double>(value);
  }
  double get(metrics::StepMetric metric) const { return values[metric.slot]; }
};

}  // namespace hetsim::sim
