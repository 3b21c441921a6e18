#pragma once
// What happens to a running sequence evicted for lack of KV blocks.
#include "policies/kv_cache/kv_manager.hpp"
#include "policies/sequence.hpp"

namespace hetsim::policies {

class Preemption {
 public:
  static constexpr const char* kKind = "preemption";
  virtual ~Preemption() = default;
  /// Frees `seq`'s device KV and leaves it ready to be resumed from the waiting queue.
  virtual void evict(Sequence& seq, KvManager& kv) = 0;
};

}  // namespace hetsim::policies
