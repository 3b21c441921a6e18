#pragma once
// What happens to a running sequence evicted for lack of KV blocks. A policy that parks KV
// elsewhere asks for a tier of the KV block store (kv_tiers); the scenario finds that tier on the
// replica's node and binds it; the policy then moves blocks there (KvManager::move_out) and the
// instance turns the moves into contended transfers on the platform.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sim/serving/kv_manager.hpp"
#include "sim/serving/sequence.hpp"
#include "sim/core/config.hpp"

namespace hetsim::policies {

class Preemption {
 public:
  static constexpr const char* kKind = "preemption";
  virtual ~Preemption() = default;
  /// Frees `seq`'s device KV and leaves it ready to be resumed from the waiting queue.
  virtual void evict(Sequence& seq, KvManager& kv) = 0;
  /// Tiers the policy needs in the KV store (none by default).
  virtual std::vector<KvTierRequest> kv_tiers() const { return {}; }
  /// The store's indices of the requested tiers, in request order.
  virtual void bind_kv_tiers(std::span<const serving::KvTierIndex>) {}
};

}  // namespace hetsim::policies
