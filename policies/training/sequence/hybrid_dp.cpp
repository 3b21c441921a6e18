// Dynamic data x context parallelism (ByteScale, Ge et al., "ByteScale: Efficient Scaling of LLM
// Training with a 2048K Context Length on More Than 12,000 GPUs", 2025, arXiv 2502.21231): the
// data- and context-parallel ranks of a pipeline stage form one pool, and each iteration's
// documents are placed on it anew. A rank holds `capacity` tokens per micro-batch; a document
// longer than that is ring-attended over k = ceil(l / capacity) ranks of one micro-batch (the
// fewest its length needs, adjacent ranks when free so that the ring stays inside a node), a
// shorter one is computed whole on one rank with no K/V exchange at all.
//
//   policies:
//     sequence_sharding: {impl: hybrid_dp, balance: true}
//
// balance: true (ByteScale's balance scheduler, in hetsim's form): documents longest first, each
// to the ranks whose estimated work so far is least (best fit among their micro-batches), so that
// the ranks' attention work, not only their tokens, evens out before the gradient reduction.
// balance: false: documents in stream order, each to the first micro-batch slot (rank by rank)
// with room, a ring to the first adjacent ranks with room: data-aware sharding without balancing.
//
// hetsim's reading, stated as such: every rank processes the same number of micro-batches of at
// most `capacity` tokens (ByteScale also varies the micro-batch count per rank); a document that
// finds no slot with room for it whole is split over slots (as packing splits at sequence ends),
// one that finds no free ring of its size takes more ranks, and one longer than a micro-batch of
// the whole pool is cut into pool-sized parts.
#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>

#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/training/sequence_sharding.hpp"

namespace hetsim::policies {
namespace {

using training::PoolBatch;
using training::ShardingPool;

class Placer {
 public:
  Placer(const ShardingPool& pool, const training::PieceCost& cost, bool balance)
      : batch_(pool), cost_(cost), balance_(balance), load_(static_cast<std::size_t>(pool.ranks), 0.0) {}

  /// Places `documents`; returns the batch.
  PoolBatch run(const std::vector<std::int64_t>& documents) {
    const ShardingPool& p = batch_.pool();
    const double whole_pool = p.capacity * p.ranks;
    for (const std::int64_t d : documents) {
      double l = static_cast<double>(d);
      for (; l > whole_pool; l -= whole_pool) queue_.push_back(whole_pool);  // pool-sized parts
      queue_.push_back(l);
    }
    if (balance_) std::stable_sort(queue_.begin(), queue_.end(), std::greater<>());
    while (!queue_.empty()) {
      const double l = queue_.front();
      queue_.pop_front();
      if (l > p.capacity * (1 + 1e-12)) {
        if (!place_long(l)) {  // no ring fits anywhere: halve it
          requeue(l - l / 2);
          requeue(l / 2);
        }
      } else {
        place_short(l);
      }
    }
    return std::move(batch_);
  }

 private:
  /// Puts a part back: first, in stream order; in its place by length when balancing.
  void requeue(double l) {
    if (!balance_) {
      queue_.push_front(l);
      return;
    }
    queue_.insert(std::lower_bound(queue_.begin(), queue_.end(), l, std::greater<>()), l);
  }

  /// A document longer than one slot: the fewest ranks of one micro-batch that hold a piece each.
  bool place_long(double l) {
    const ShardingPool& p = batch_.pool();
    for (int k = static_cast<int>(std::ceil(l / p.capacity - 1e-9)); k <= p.ranks; ++k)
      if (place_ring(l, k, true) || place_ring(l, k, false)) return true;
    return false;
  }

  /// Places a ring of `k` ranks, adjacent ones or any, at the micro-batch where it is best (least
  /// loaded when balancing, else the first found); false when none has room.
  bool place_ring(double l, int k, bool adjacent) {
    const ShardingPool& p = batch_.pool();
    const double piece = l / k;
    double best_score = 0;
    int best_mb = -1;
    std::vector<int> best, members;
    for (int m = 0; m < p.microbatches; ++m) {
      members.clear();
      if (adjacent) {
        double score = -1;
        for (int r0 = 0, run = 0; r0 < p.ranks; ++r0) {
          run = batch_.fits(r0, m, piece) ? run + 1 : 0;
          if (run < k) continue;
          const int first = r0 - k + 1;
          const double window = *std::max_element(load_.begin() + first, load_.begin() + r0 + 1);
          if (score < 0 || window < score) {
            score = window;
            members.resize(static_cast<std::size_t>(k));
            std::iota(members.begin(), members.end(), first);
          }
          if (!balance_) break;
        }
      } else {
        for (int r = 0; r < p.ranks; ++r)
          if (batch_.fits(r, m, piece)) members.push_back(r);
        if (static_cast<int>(members.size()) < k) continue;
        if (balance_)
          std::stable_sort(members.begin(), members.end(), [&](int a, int b) { return load(a) < load(b); });
        members.resize(static_cast<std::size_t>(k));
        std::sort(members.begin(), members.end());
      }
      if (members.empty()) continue;
      double score = 0;
      for (const int r : members) score = std::max(score, load(r));
      if (best_mb < 0 || score < best_score) {
        best_score = score;
        best_mb = m;
        best = members;
      }
      if (!balance_) break;
    }
    if (best_mb < 0) return false;
    const double work = cost_(piece, l * (l + 1) / k, l, k);
    for (const int r : best) load_[static_cast<std::size_t>(r)] += work;
    batch_.place_ring(best_mb, std::move(best), l);
    return true;
  }

  /// A document that fits one slot: whole on one rank (the least loaded with room when balancing,
  /// best fit among its micro-batches), or split over slots when none has room for it whole.
  void place_short(double l) {
    const ShardingPool& p = batch_.pool();
    std::vector<int> order(static_cast<std::size_t>(p.ranks));
    std::iota(order.begin(), order.end(), 0);
    if (balance_) std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return load(a) < load(b); });
    for (const int r : order) {
      int slot = -1;
      for (int m = 0; m < p.microbatches; ++m)
        if (batch_.fits(r, m, l) && (slot < 0 || batch_.free(r, m) < batch_.free(r, slot))) {
          slot = m;
          if (!balance_) break;
        }
      if (slot < 0) continue;
      put(r, slot, l);
      return;
    }
    // No slot holds it whole: fill the roomiest (the least loaded of them), the rest goes on.
    int rank = -1, mb = -1;
    for (const int r : order)
      for (int m = 0; m < p.microbatches; ++m)
        if (rank < 0 || batch_.free(r, m) > batch_.free(rank, mb)) {
          rank = r;
          mb = m;
        }
    const double room = batch_.free(rank, mb);
    if (!(room > 1e-9 * p.capacity))
      throw InvariantError(fmt::format("sequence sharding has {:g} tokens left and no room in the pool", l));
    put(rank, mb, room);
    requeue(l - room);
  }

  void put(int rank, int mb, double tokens) {
    batch_.place(rank, mb, tokens);
    load_[static_cast<std::size_t>(rank)] += cost_(tokens, tokens * (tokens + 1), 0, 1);
  }
  double load(int r) const { return load_[static_cast<std::size_t>(r)]; }

  PoolBatch batch_;
  const training::PieceCost& cost_;
  bool balance_;
  std::vector<double> load_;  ///< per rank: the estimated seconds placed on it so far
  std::deque<double> queue_;  ///< documents (and parts) still to place
};

class HybridDp final : public training::SequenceShardingPolicy {
 public:
  explicit HybridDp(const config::Node& cfg) : balance_(cfg.get<bool>("balance").default_to(true)) {}
  bool regroups() const override { return true; }
  bool balances() const override { return balance_; }
  PoolBatch assign(const std::vector<std::int64_t>& documents, const ShardingPool& pool,
                   const training::PieceCost& cost) const override {
    return Placer(pool, cost, balance_).run(documents);
  }

 private:
  bool balance_;
};

}  // namespace
HETSIM_REGISTER(training::SequenceShardingPolicy, HybridDp, "hybrid_dp",
                "dynamic data x context parallelism: short documents whole on one rank, long ones ringed over the "
                "fewest ranks, balanced by work (ByteScale)");
}  // namespace hetsim::policies
