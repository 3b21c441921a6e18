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

/// What a router may know about a replica when a request arrives.
struct ReplicaLoad {
  bool can_fit = true;           ///< the request could ever run there (context and KV capacity; and its role takes arrivals)
  serving::InstanceRole role = serving::InstanceRole::both;
  std::int64_t outstanding = 0;  ///< requests routed there and not yet finished
  std::int64_t waiting = 0;      ///< of which not yet admitted
  std::int64_t kv_free_blocks = 0;
};

/// Where a request goes: the instance it arrives at and, for prefill/decode disaggregation, the
/// decode instance chosen up front (else the P/D controller picks one when the prefill is done).
struct RoutePlan {
  std::size_t instance = 0;
  std::optional<std::size_t> decode;
};

class Router {
 public:
  static constexpr const char* kKind = "router";
  virtual ~Router() = default;
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
