#pragma once
// What happens to a running sequence evicted for lack of KV blocks. A policy that moves KV
// elsewhere (swap) reports the tokens it moved; the replica turns them into transfers on the
// node's links (sim/engine/transfer_network), so the copies take time and contend.
#include <cstdint>
#include <string>

#include "policies/kv_cache/kv_manager.hpp"
#include "policies/sequence.hpp"

namespace hetsim::policies {

class Preemption {
 public:
  static constexpr const char* kKind = "preemption";
  virtual ~Preemption() = default;
  /// Called once with the replica's per-device KV sizing (a swap policy sizes its space).
  virtual void size(const KvSizing&) {}
  /// Frees `seq`'s device KV and leaves it ready to be resumed from the waiting queue.
  virtual void evict(Sequence& seq, KvManager& kv) = 0;
  /// `seq` holds swapped KV and runs again: frees its swap space and returns the KV tokens to
  /// copy back to the device before the step.
  virtual std::int64_t swap_in(Sequence&) { return 0; }
  /// KV tokens evictions copied device -> swap tier since the last call.
  virtual std::int64_t take_swapped_out() { return 0; }
  /// Whether evictions move KV to another tier (the replica then needs a node to move it over).
  virtual bool moves_kv() const { return false; }
  /// Tier the policy parks KV in; "" = the node's first DRAM tier.
  virtual std::string swap_tier() const { return {}; }
  /// Per-device swap space the policy reserves in its tier, bytes.
  virtual double swap_space_bytes() const { return 0; }
};

}  // namespace hetsim::policies
