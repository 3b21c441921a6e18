#pragma once
// Sharding variable-length documents over data x context parallel ranks, as policies
// (policies/training/sequence/):
//
//   policies:
//     sequence_sharding: {impl: hybrid_dp, balance: true}   # or static_cp (the default)
//
// Static context parallelism splits every packed sequence over its CP group, so each rank rings
// the K/V of every token of the sequence, short documents included, and the replicas' attention
// work differs with their documents. A dynamic policy (ByteScale, Ge et al. 2025, arXiv
// 2502.21231) pools the dp x cp ranks of a pipeline stage: each rank holds `capacity` tokens per
// micro-batch (micro_batch x seq_len / cp, what static CP gives it), a document longer than that
// is ring-attended over ceil(l / capacity) ranks only, a shorter one is computed whole on one rank
// without any K/V exchange, and which documents go where is the policy's (balancing the ranks'
// work, or not).
//
// This file holds what the policies produce (PoolBatch: per rank and micro-batch the tokens, the
// causal attention pairs and the document rings it takes part in) and how the training engine
// prices a pass from it (ShardedDocuments::pass); no SimGrid.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/training/pipeline_schedule.hpp"
#include "sim/training/stage_costs.hpp"

namespace hetsim::training {

/// The ranks a dynamic policy shards over: the data x context parallel ranks of a pipeline stage.
struct ShardingPool {
  int ranks = 1;          ///< dp x cp
  int microbatches = 1;   ///< each rank's micro-batches per iteration
  double capacity = 1;    ///< tokens one rank holds in one micro-batch
};

/// A document attended over several ranks in one micro-batch (ring attention over its pieces,
/// `tokens / ranks.size()` on each).
struct DocumentRing {
  double tokens = 0;
  std::vector<int> ranks;  ///< pool ranks, ascending
  /// Causal attention pairs (l (l + 1) / k, in units of pairs x 2) each of its ranks computes.
  double pairs_per_rank() const { return tokens * (tokens + 1) / static_cast<double>(ranks.size()); }
};

/// One rank's micro-batch.
struct PoolSlot {
  double tokens = 0;
  double pairs = 0;        ///< sum over its pieces of l (l + 1) / k (a document of l tokens over k ranks)
  std::vector<int> rings;  ///< the rings it takes part in (PoolBatch::rings)
};

/// One iteration's documents placed on the pool.
class PoolBatch {
 public:
  explicit PoolBatch(const ShardingPool& pool);
  const ShardingPool& pool() const { return pool_; }
  const PoolSlot& slot(int rank, int mb) const { return slots_[index(rank, mb)]; }
  double free(int rank, int mb) const { return pool_.capacity - slot(rank, mb).tokens; }
  /// Whether `tokens` more fit in the slot (to a part in 1e9 of the capacity: pieces are fractional).
  bool fits(int rank, int mb, double tokens) const { return tokens <= free(rank, mb) + 1e-9 * pool_.capacity; }
  const std::vector<DocumentRing>& rings() const { return rings_; }
  /// A document (or part of one) of `tokens` computed whole by `rank` in micro-batch `mb`.
  void place(int rank, int mb, double tokens);
  /// A document of `tokens` ring-attended over `ranks` (ascending, two or more) in micro-batch `mb`.
  void place_ring(int mb, std::vector<int> ranks, double tokens);
  /// The tokens placed, over every slot.
  double tokens() const;
  /// InvariantError unless every slot holds at most its capacity and `documents` tokens were placed.
  void check(double documents) const;

 private:
  std::size_t index(int rank, int mb) const { return static_cast<std::size_t>(rank) * static_cast<std::size_t>(pool_.microbatches) + static_cast<std::size_t>(mb); }
  ShardingPool pool_;
  std::vector<PoolSlot> slots_;
  std::vector<DocumentRing> rings_;
};

/// What a placement costs, for policies that balance: the estimated seconds one rank spends on a
/// piece of `tokens` with `pairs` attention pairs, in a ring of `ring_ranks` ranks over a document
/// of `ring_tokens` (ring_ranks 1: no ring).
using PieceCost = std::function<double(double tokens, double pairs, double ring_tokens, int ring_ranks)>;

class SequenceShardingPolicy {
 public:
  static constexpr const char* kKind = "sequence sharding policy";
  virtual ~SequenceShardingPolicy() = default;
  /// False: static context parallelism, each packed sequence over its CP group (no PoolBatch).
  virtual bool regroups() const = 0;
  /// Whether it balances the ranks' work (what PieceCost is for).
  virtual bool balances() const { return false; }
  /// Places one iteration's documents (lengths in stream order; they sum to the pool's tokens,
  /// ranks x microbatches x capacity) on the pool.
  virtual PoolBatch assign(const std::vector<std::int64_t>& documents, const ShardingPool& pool,
                           const PieceCost& cost) const = 0;
};

/// The raw time (before overlap) of the K/V ring of one document on one model stage, in the
/// forward and in the input-gradient backward (its reduce-scatter, and the recompute's ring).
struct RingTime {
  std::vector<double> forward, backward_input;  ///< per model stage
};

/// A regrouping policy's placements for a run, as the engine prices them.
struct ShardedDocuments {
  std::string name;               ///< policies.sequence_sharding.impl
  std::shared_ptr<const SequenceShardingPolicy> policy;
  int cp = 1;                     ///< training.parallel.cp as given (the engine runs cp 1 over dp x cp ranks)
  std::int64_t seq_len = 0;       ///< training.seq_len as given
  std::int64_t global_batch = 0;  ///< training.global_batch as given
  ShardingPool pool;
  /// Causal pairs (in l (l + 1) units) of the attention the stages were priced for: micro_batch
  /// sequences of capacity / micro_batch tokens.
  double priced_pairs = 1;
  std::vector<PoolBatch> iterations;
  std::vector<std::vector<RingTime>> ring_times;  ///< per iteration, per ring
  /// Attention work per rank and micro-batch relative to its share (1 / cp) of one seq_len-token
  /// document per sequence, as static CP's shares count it: the mean, minimum and maximum.
  double share_mean = 0, share_min = 0, share_max = 0;
  std::vector<double> iteration_share;  ///< the mean over each iteration's slots

  /// Pass `kind` of model stage `stage` for pool rank `rank`'s micro-batch `mb` of iteration `it`,
  /// from `base` (the stage's pass priced at cp 1 for `capacity` tokens): the work that is not
  /// attention at the slot's tokens, the attention core at its pairs, and each ring's K/V exchange
  /// beyond the document's attention that hides it (in ring steps, as PassCost::cp_hidden).
  PassCost pass(int it, int rank, int mb, int stage, PassKind kind, const PassCost& base) const;
};

}  // namespace hetsim::training
