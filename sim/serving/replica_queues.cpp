#include <fmt/format.h>

#include <algorithm>

#include "sim/core/error.hpp"

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

namespace {
/// Only a sequence that holds no KV can take a cached prefix (a fresh or recompute-preempted one).
PrefixHit cached_prefix(KvManager& kv, Sequence& seq) {
  return seq.computed == 0 && seq.blocks.empty() ? kv.lookup(seq) : PrefixHit{};
}
}  // namespace

std::int64_t ReplicaQueues::head_pending() {
  Sequence& seq = *waiting_.front();
  return seq.pending() - cached_prefix(kv_, seq).tokens;
}

bool ReplicaQueues::admit_head(std::int64_t tokens) {
  Sequence& seq = *waiting_.front();
  const PrefixHit hit = cached_prefix(kv_, seq);
  if (tokens < 1 || tokens > seq.pending() - hit.tokens)
    throw InvariantError(fmt::format("sequence {}: admitted with {} tokens to feed, but {} are pending after {} cached",
                                     seq.id, tokens, seq.pending() - hit.tokens, hit.tokens));
  // Blocks taken from the free pool: all but the cached ones that other sequences hold.
  const std::int64_t need = kv_.extra_blocks(seq, seq.computed + hit.tokens + tokens) - hit.held_blocks;
  const std::int64_t keep = running_.empty() ? 0 : kv_.watermark_blocks();
  if (kv_.free_blocks() - need < keep) return false;
  kv_.admit(seq, hit, tokens);
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
