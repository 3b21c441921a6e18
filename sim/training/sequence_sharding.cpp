#include "sim/training/sequence_sharding.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "sim/core/error.hpp"

namespace hetsim::training {

PoolBatch::PoolBatch(const ShardingPool& pool)
    : pool_(pool), slots_(static_cast<std::size_t>(pool.ranks) * static_cast<std::size_t>(pool.microbatches)) {}

void PoolBatch::place(int rank, int mb, double tokens) {
  PoolSlot& s = slots_[index(rank, mb)];
  s.tokens += tokens;
  s.pairs += tokens * (tokens + 1);
}

void PoolBatch::place_ring(int mb, std::vector<int> ranks, double tokens) {
  const auto id = static_cast<int>(rings_.size());
  rings_.push_back({tokens, std::move(ranks)});
  const DocumentRing& ring = rings_.back();
  const double piece = tokens / static_cast<double>(ring.ranks.size());
  for (const int r : ring.ranks) {
    PoolSlot& s = slots_[index(r, mb)];
    s.tokens += piece;
    s.pairs += ring.pairs_per_rank();
    s.rings.push_back(id);
  }
}

double PoolBatch::tokens() const {
  double sum = 0;
  for (const PoolSlot& s : slots_) sum += s.tokens;
  return sum;
}

void PoolBatch::check(double documents) const {
  const double slack = 1e-6 * pool_.capacity;
  for (int r = 0; r < pool_.ranks; ++r)
    for (int m = 0; m < pool_.microbatches; ++m)
      if (slot(r, m).tokens > pool_.capacity + slack)
        throw InvariantError(fmt::format("sequence sharding put {:g} tokens on rank {} in micro-batch {}, beyond its "
                                         "capacity of {:g}", slot(r, m).tokens, r, m, pool_.capacity));
  if (std::abs(tokens() - documents) > slack * static_cast<double>(pool_.ranks))
    throw InvariantError(fmt::format("sequence sharding placed {:g} tokens of {:g}", tokens(), documents));
}

PassCost ShardedDocuments::pass(int it, int rank, int mb, int stage, PassKind kind, const PassCost& base) const {
  const PoolBatch& batch = iterations[static_cast<std::size_t>(it)];
  const PoolSlot& slot = batch.slot(rank, mb);
  PassCost c = base.with_tokens(slot.tokens / pool.capacity, slot.pairs / priced_pairs);
  if (kind == PassKind::backward_weight) return c;  // no attention, no ring
  const auto& times = ring_times[static_cast<std::size_t>(it)];
  for (const int id : slot.rings) {
    const DocumentRing& ring = batch.rings()[static_cast<std::size_t>(id)];
    const RingTime& t = times[static_cast<std::size_t>(id)];
    const double raw = (kind == PassKind::forward ? t.forward : t.backward_input)[static_cast<std::size_t>(stage)];
    // The ring hides under this document's attention on the rank, in as many steps as it has ranks.
    const double attention = base.attention * ring.pairs_per_rank() / priced_pairs;
    const double k = static_cast<double>(ring.ranks.size());
    const double exposed = raw - std::min(raw, attention) * (1 - 1 / k);
    c.seconds += exposed;
    c.comm += exposed;
    c.cp_comm += exposed;
  }
  return c;
}

}  // namespace hetsim::training
