#include <algorithm>

#include "sim/serving/scheduler.hpp"

namespace hetsim::policies {

bool ReplicaQueues::reserve_running(Sequence& seq, std::int64_t tokens) {
  const std::int64_t need = kv_.extra_blocks(seq, seq.computed + tokens);
  // Most decode steps stay inside the last block: nothing to reserve (what grow() would find).
  if (need == 0 && seq.kv_tier == serving::kDeviceTier) return true;
  while (kv_.free_blocks() < need) {
    if (running_.empty() || running_.back() == &seq) return false;
    evict_newest();
  }
  kv_.grow(seq, seq.computed + tokens);
  return true;
}

bool ReplicaQueues::admit_head(std::int64_t tokens) {
  Sequence& seq = *waiting_.front();
  const std::int64_t need = kv_.extra_blocks(seq, seq.computed + tokens);
  const std::int64_t keep = running_.empty() ? 0 : kv_.watermark_blocks();
  if (kv_.free_blocks() - need < keep) return false;
  kv_.grow(seq, seq.computed + tokens);
  waiting_.pop_front();
  running_.push_back(&seq);
  return true;
}

void ReplicaQueues::evict_newest() {
  Sequence* victim = running_.back();
  running_.pop_back();
  preemption_.evict(*victim, kv_);
  waiting_.push_front(victim);
}

}  // namespace hetsim::policies
