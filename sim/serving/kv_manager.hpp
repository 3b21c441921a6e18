#pragma once
// KV-cache manager interface: sizes the replica's KV block store (sim/serving/kv_block_store) and
// decides how sequences take and give back blocks. Policies that park KV elsewhere (swap,
// offload) move a sequence's blocks to another tier of the store; the instance turns the moves
// into transfers on the platform before its next step.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>
#include <utility>

#include "sim/core/config.hpp"
#include "sim/metrics/records.hpp"
#include "sim/serving/sequence.hpp"
#include "sim/serving/kv_block_store.hpp"

namespace hetsim::policies {

/// Memory of one device of a replica, as the KV manager needs it to size the cache (the terms of
/// sim/serving/memory_budget.hpp).
struct KvSizing {
  double device_memory_bytes = 0;  ///< usable memory of one device (what the driver reports as total)
  double weight_bytes = 0;         ///< weights held by one device
  double kv_bytes_per_token = 0;   ///< KV bytes per token on one device (all layers)
  std::int64_t layers = 1;         ///< layers holding KV (copies of paged KV are per layer)
  double activation_bytes = 0;     ///< activation peak of the largest step, computed from the model
  double non_torch_bytes = 0;      ///< the serving stack's non-torch memory at the replica's TP degree
  double graph_bytes = 0;          ///< CUDA-graph memory the stack takes before the KV cache is sized
  /// The share of the device's KV memory this instance holds (semi-PD: its prefill and decode
  /// workers split one device's KV pool); 1 for an instance alone on its devices.
  double kv_share = 1;
};

/// How a KV manager split one device's memory (the run summary prints it); bytes.
struct KvMemory {
  double usable = 0;           ///< usable device memory
  double utilization = 0;      ///< fraction of it the engine may use (gpu_memory_utilization)
  double weights = 0;
  double activation = 0;       ///< the computed activation peak, or the activation_reserve that replaced it
  bool activation_given = false;  ///< activation_reserve replaced the computed peak
  double non_torch = 0;
  double graphs = 0;
  double kv = 0;               ///< KV cache bytes: what is left, or kv_cache_memory when given (times the instance's KvSizing::kv_share)
  bool kv_given = false;       ///< kv_cache_memory set the KV size directly
  std::int64_t blocks = 0;     ///< KV blocks of the store
  std::int64_t block_size = 0; ///< tokens per block
};

/// A waiting sequence's prefix that a prefix-caching manager finds cached.
struct PrefixHit {
  std::int64_t tokens = 0;       ///< leading tokens whose KV is cached (whole blocks), in any tier
  std::int64_t held_blocks = 0;  ///< of their blocks, those in device memory that a sequence holds: free to share
  std::int64_t loaded_tokens = 0;  ///< of `tokens`, those in a tier below device memory: loaded on admission
};

/// A tier a policy wants in the KV store.
struct KvTierRequest {
  std::string tier;               ///< a tier of the replica's node (or of the store); "" = the node's first DRAM tier
  double bytes_per_device = 0;    ///< space each device of the replica reserves there; a shared store's whole capacity
  config::Node where;             ///< the policy's config, for messages
  std::string tier_key, size_key; ///< the keys that set `tier` and `bytes_per_device`
  std::string store;              ///< a KV store node of the cluster (cluster.kv_stores) shared by all replicas; "" = the replica's node
  std::int64_t chunk_tokens = 0;  ///< the tier is read and written in contiguous chunks of this many tokens (0: the policy's pieces)
};

/// What one tier of a caching manager did over a run (sim/metrics/records.hpp).
using KvTierStats = sim::KvTierRecord;


/// A requested tier as the scenario found it on the replica's node.
struct KvTierBinding {
  serving::KvTierIndex index = serving::kDeviceTier;  ///< in the store
  std::string name;                                   ///< the node's tier name
  double block_load_seconds = 0;  ///< one block (one device's shard) from there into device memory, alone on the route
  /// A store shared by the replicas (a cluster KV store node), whose first tier holds the blocks;
  /// `index` is then a tier of the replica's own store without room that names the transfers to
  /// and from it. Null: the tier is `index` of the replica's own store.
  serving::KvBlockStore* shared = nullptr;
};

/// Prompt tokens looked up and found cached at admissions (a step's counters).
struct PrefixCounts {
  std::int64_t lookup_tokens = 0, hit_tokens = 0;
  std::int64_t loaded_tokens = 0;  ///< of the hits, tokens loaded from tiers below device memory
};

class KvManager {
 public:
  static constexpr const char* kKind = "kv_cache";
  virtual ~KvManager() = default;

  /// Sizes the cache and creates the store; an InputError (naming the config) if not even one block fits.
  virtual void size(const KvSizing& sizing) = 0;
  /// Tokens per block.
  virtual std::int64_t block_size() const = 0;
  /// Blocks kept free when admitting new sequences, so running ones can grow (vLLM's watermark).
  virtual std::int64_t watermark_blocks() const = 0;
  /// Grows `seq` to hold `tokens` tokens in device memory, first bringing back its blocks from
  /// another tier if they were moved out; the caller checked there is room (violations throw).
  virtual void grow(Sequence& seq, std::int64_t tokens) = 0;
  /// Frees every block of `seq`, in whatever tier.
  virtual void release(Sequence& seq) = 0;
  /// Drops a reference to each of `blocks`, a block table taken out of a sequence (its KV moved
  /// to another instance).
  virtual void release_blocks(const std::vector<serving::BlockId>& blocks) {
    for (serving::BlockId b : blocks) store_->release(b);
  }
  /// Whether policies may move this manager's blocks to other tiers (swap preemption).
  virtual bool allows_moves() const { return true; }
  /// Tiers below device memory the manager keeps KV in (none by default), found on the node.
  virtual std::vector<KvTierRequest> kv_tiers() const { return {}; }
  /// The requested tiers as bound, in request order.
  virtual void bind_kv_tiers(std::span<const KvTierBinding>) {}
  /// How a recorded copy moves: in pieces of `request_size` bytes (block devices are slower in
  /// small requests), with `overhead` seconds of per-copy setup and submission beyond bytes /
  /// bottleneck + route latency. Default: large pieces, no overhead.
  struct CopyCost {
    double request_size = 1 << 20;
    double overhead = 0;
  };
  virtual CopyCost copy_cost(const serving::KvTransfer&) const { return {}; }
  /// Per-tier activity of a caching manager, device first (empty for others).
  virtual std::vector<KvTierStats> tier_stats() const { return {}; }
  /// Host work the manager did for the step being planned (vAttention maps physical pages), taken
  /// (and reset) by the instance once per step: `overlaps` = done by a background thread while the
  /// step computes (the step takes max(compute, host work)), else on its critical path (added).
  struct HostWork {
    double seconds = 0;
    bool overlaps = true;
    /// A step of `compute` seconds with this host work.
    double step_seconds(double compute) const {
      if (seconds <= 0) return compute;
      return overlaps ? std::max(compute, seconds) : compute + seconds;
    }
  };
  virtual HostWork take_host_work() { return {}; }
  /// Simulated time moved to `now` (the instance calls it before each step): tiers with a time to
  /// live drop what expired.
  virtual void advance(double now) { store_->advance(now); }
  /// Every store the manager keeps blocks in: its own, then shared ones (audited at the end of a run).
  virtual std::vector<const serving::KvBlockStore*> stores() const { return {store_.get()}; }
  /// The instance stopped (elastic capacity) with nothing referenced: what its own store caches is
  /// forgotten, every tier (the process that held it is gone); shared stores keep theirs.
  virtual void forget_cached() {
    for (serving::KvTierIndex t = 0; t < store_->tiers(); ++t)
      for (serving::BlockId b; (b = store_->next_victim(t)) >= 0;) store_->drop_cached(b);
  }
  /// Seconds the instance takes to compute one prompt token (set by the engine; 0 = unknown), for
  /// policies that weigh loading KV against recomputing it.
  void set_prefill_seconds_per_token(double s) { prefill_seconds_per_token_ = s; }

  // Prefix caching (managers that keep freed blocks findable by content; see policies/kv_cache).
  /// What admitting `seq` (waiting, holding no KV) would find cached; nothing by default.
  virtual PrefixHit lookup(Sequence& /*seq*/) { return {}; }
  /// Admits waiting `seq` to feed `tokens` tokens after its cached prefix `hit` (what lookup()
  /// returned just before): takes the cached blocks, counts the prefix as computed, then grows.
  virtual void admit(Sequence& seq, const PrefixHit& /*hit*/, std::int64_t tokens) { grow(seq, seq.computed + tokens); }
  /// `seq`'s computed tokens advanced: a caching manager makes its newly full blocks findable.
  virtual void on_computed(Sequence& /*seq*/) {}
  /// Whether this manager caches prefixes (the engine then calls on_computed after every step).
  bool caches_prefixes() const { return caches_prefixes_; }
  /// The admissions' counters since the last call, reset.
  PrefixCounts take_prefix_counts() { return std::exchange(prefix_counts_, PrefixCounts{}); }

  /// The memory split of the last size() call.
  const KvMemory& memory() const { return memory_; }
  serving::KvBlockStore& store() { return *store_; }
  const serving::KvBlockStore& store() const { return *store_; }
  std::int64_t total_blocks() const { return store_->capacity(); }
  std::int64_t used_blocks() const { return store_->used(); }
  std::int64_t free_blocks() const { return store_->free(); }
  /// Blocks that hold `tokens` tokens (the store's block size: no virtual call on the per-sequence path).
  std::int64_t blocks_for(std::int64_t tokens) const {
    const std::int64_t bs = store_->block_size();
    return (tokens + bs - 1) / bs;
  }
  /// Blocks `seq` holds in device memory.
  std::int64_t device_blocks(const Sequence& seq) const {
    return seq.kv_tier == serving::kDeviceTier ? static_cast<std::int64_t>(seq.blocks.size()) : 0;
  }
  /// Extra device blocks `seq` needs to hold `tokens` tokens in total.
  std::int64_t extra_blocks(const Sequence& seq, std::int64_t tokens) const {
    const std::int64_t need = blocks_for(tokens) - device_blocks(seq);
    return need > 0 ? need : 0;
  }
  /// Moves `seq`'s blocks (holding `tokens` tokens of KV) to tier `to`; false if it lacks room.
  bool move_out(Sequence& seq, serving::KvTierIndex to, std::int64_t tokens) {
    if (!store_->move(seq.blocks, to, tokens)) return false;
    seq.kv_tier = to;
    return true;
  }

 protected:
  std::unique_ptr<serving::KvBlockStore> store_;
  KvMemory memory_;
  bool caches_prefixes_ = false;
  PrefixCounts prefix_counts_;
  double prefill_seconds_per_token_ = 0;
};

}  // namespace hetsim::policies
