#pragma once
// Router interface: picks the replica that receives an arriving request.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "sim/core/request.hpp"
#include "sim/serving/fleet_index.hpp"
#include "sim/serving/instance_role.hpp"

namespace hetsim::policies {

/// What a router may know about a replica when a request arrives. With a refresh period
/// (policies.router.refresh) the counts and KV figures are those of the last snapshot, as a
/// real router's scraped metrics are; can_fit and role never change, and cached_tokens is read
/// when the request arrives (KV-cache events reach precise routers within milliseconds).
struct ReplicaLoad {
  bool can_fit = true;           ///< the request could ever run there (context and KV capacity; and its role takes arrivals)
  serving::InstanceRole role = serving::InstanceRole::both;
  std::int64_t outstanding = 0;  ///< requests routed there and not yet finished
  std::int64_t waiting = 0;      ///< of which not yet admitted
  std::int64_t kv_free_blocks = 0;
  std::int64_t kv_blocks = 0;    ///< device KV blocks in all (KV utilisation = 1 - free / blocks)
  std::int64_t kv_block_size = 0;  ///< tokens per KV block
  /// Leading prompt tokens of this request whose KV the replica holds, in any tier of its cache;
  /// filled only for routers that read it (Router::reads_cached_prefix), else -1.
  std::int64_t cached_tokens = -1;
};

/// Where a request goes: the instance it arrives at and, for prefill/decode disaggregation, the
/// decode instance chosen up front (else the P/D controller picks one when the prefill is done).
struct RoutePlan {
  std::size_t instance = 0;
  std::optional<std::size_t> decode;
};

/// The fitting replica with the fewest outstanding requests (ties: the lowest index); 0 if none fits.
inline std::size_t least_outstanding(std::span<const ReplicaLoad> replicas) {
  std::size_t best = replicas.size();
  for (std::size_t i = 0; i < replicas.size(); ++i)
    if (replicas[i].can_fit && (best == replicas.size() || replicas[i].outstanding < replicas[best].outstanding)) best = i;
  return best == replicas.size() ? 0 : best;
}

/// KV utilisation in [0, 1]: device blocks in use over all of them (0 for a replica without blocks).
inline double kv_utilization(const ReplicaLoad& l) {
  return l.kv_blocks > 0 ? 1.0 - static_cast<double>(l.kv_free_blocks) / static_cast<double>(l.kv_blocks) : 0.0;
}

class Router {
 public:
  static constexpr const char* kKind = "router";
  virtual ~Router() = default;
  /// The run's seed, given once before the first request (routers that draw at random use it).
  virtual void seed(std::uint64_t /*seed*/) {}
  /// Whether route()/plan() read ReplicaLoad::cached_tokens: the engine then looks the request's
  /// prefix up in every fitting replica's KV cache (O(replicas x prefix blocks) per arrival).
  virtual bool reads_cached_prefix() const { return false; }
  /// Whether it wants on_end (routers that keep their own account of what they sent where).
  virtual bool observes_ends() const { return false; }
  /// Request `id`, routed earlier, ended (completed, rejected or dropped).
  virtual void on_end(std::int64_t /*id*/) {}
  /// Index into `replicas` of the replica that serves `request`; must be one with can_fit (the
  /// engine calls route only when at least one replica can fit the request).
  virtual std::size_t route(const Request& request, std::span<const ReplicaLoad> replicas) = 0;
  /// The full plan; routers that pick a decode instance too override this.
  virtual RoutePlan plan(const Request& request, std::span<const ReplicaLoad> replicas) {
    return {route(request, replicas), std::nullopt};
  }
  /// Fast path for large fleets: the plan from the fleet index alone, given which fit classes can
  /// hold the request (`class_fits[c]`, at least one true); the engine keeps the index current.
  /// It must choose exactly as plan() would from the same loads. nullopt (the default): this
  /// router needs more than the index holds, and the engine builds every replica's load (O(replicas)
  /// per arrival) and calls plan().
  virtual std::optional<RoutePlan> plan_indexed(const Request&, const FleetIndex&, std::span<const char> /*class_fits*/) {
    return std::nullopt;
  }
};

}  // namespace hetsim::policies
