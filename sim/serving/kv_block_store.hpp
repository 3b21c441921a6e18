#pragma once
// The KV cache as blocks with identity (PagedAttention, Kwon et al. SOSP'23; vLLM's block pool):
// every block has an id, a reference count, an optional content hash (chained over the prefix, as
// vLLM's automatic prefix caching computes it) and the tier it lives in. Tier 0 is the device
// memory the model reads KV from; policies may add tiers (host DRAM, CXL, SSD, a remote pool) and
// move a sequence's blocks between them. Every move is recorded as a pending transfer that the
// instance turns into bytes on the platform network before its next step, so the engine needs no
// knowledge of which policy moved what.
//
// A block whose reference count drops to zero is free; if it carries a hash it stays cached (and
// findable) until its slot is needed. Which cached block goes first is the tier's eviction order:
// least recently freed (LRU, vLLM's free list) or least frequently used with dynamic aging
// (LFU-DA, Arlitt et al. 2000: a freed block's priority is its use count plus the priority of the
// last block evicted, so blocks once hot but long unused age out). A tier may also give cached
// blocks a time to live (TTL): advance() drops those freed longer ago than that, as hosted prompt
// caches expire idle prefixes after minutes.
#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace hetsim::serving {

using BlockId = std::int32_t;
using KvTierIndex = std::uint8_t;
inline constexpr KvTierIndex kDeviceTier = 0;

struct KvBlock {
  std::uint64_t hash = 0;  ///< content hash of the prefix up to and including this block; 0 = none
  std::int32_t refcount = 0;
  KvTierIndex tier = kDeviceTier;
  BlockId lru_prev = -1, lru_next = -1;  ///< free cached blocks, least recently freed first
  std::uint32_t uses = 0;  ///< references taken since the block got its content (LFU)
  double freed_at = 0;     ///< simulated time it was last freed (TTL)
  double priority = 0;     ///< LFU-DA priority while cached
  std::uint64_t freed_order = 0;  ///< frees in the store before this one (LFU tie-break)
};

/// Which cached block of a tier is evicted first.
enum class Eviction : std::uint8_t {
  lru,  ///< least recently freed
  lfu,  ///< least frequently used, with dynamic aging (LFU-DA); ties: least recently freed
};
/// "lru" / "lfu", or nullopt.
std::optional<Eviction> parse_eviction(std::string_view name);

/// KV bytes to move between two tiers before the next step, counted in tokens (bytes follow from
/// the model's KV bytes per token on each device).
struct KvTransfer {
  KvTierIndex from = kDeviceTier, to = kDeviceTier;
  std::int64_t tokens = 0;
  std::int64_t blocks = 0;  ///< blocks copied (each a separate piece of memory on both sides)
  bool overlap = false;     ///< may run alongside the step's compute (frees no slot the step uses)
  bool layerwise = false;   ///< a load streamed layer by layer under the step's compute (it waits only for the last layer)
};

class KvBlockStore {
 public:
  /// A store whose first tier (the device tier) holds `device_blocks` blocks of `block_size` tokens.
  KvBlockStore(std::int64_t block_size, std::int64_t device_blocks, std::string first_tier = "device");

  /// Adds a tier of `capacity_blocks` blocks named `name` (a platform tier, e.g. "pool0.node0/host.dram").
  KvTierIndex add_tier(std::string name, std::int64_t capacity_blocks);
  /// Sets tier `t`'s eviction order and the time cached blocks stay there (infinity: until evicted).
  void set_policy(KvTierIndex t, Eviction eviction, double ttl = std::numeric_limits<double>::infinity());
  Eviction eviction(KvTierIndex t) const { return tiers_[t].eviction; }
  double ttl(KvTierIndex t) const { return tiers_[t].ttl; }
  /// Simulated time moves to `now` (never back): blocks freed from now on are stamped with it, and
  /// every cached block of a tier with a TTL freed at or before now - ttl is dropped.
  void advance(double now);
  /// Cached blocks of tier `t` dropped by their TTL so far.
  std::int64_t expired(KvTierIndex t) const { return tiers_[t].expired; }
  std::size_t tiers() const { return tiers_.size(); }
  const std::string& tier_name(KvTierIndex t) const { return tiers_.at(t).name; }

  std::int64_t block_size() const { return block_size_; }
  std::int64_t capacity(KvTierIndex t = kDeviceTier) const { return tiers_[t].capacity; }
  /// Blocks referenced by some sequence (cached free blocks do not count).
  std::int64_t used(KvTierIndex t = kDeviceTier) const { return tiers_[t].used; }
  std::int64_t free(KvTierIndex t = kDeviceTier) const { return tiers_[t].capacity - tiers_[t].used; }
  /// Free blocks that still hold cached content.
  std::int64_t cached(KvTierIndex t = kDeviceTier) const { return tiers_[t].cached; }

  /// A block in tier `t` with refcount 1: a never-used slot, else the least recently freed cached
  /// one (its hash is forgotten). InvariantError if the tier is full.
  BlockId allocate(KvTierIndex t = kDeviceTier);
  /// Another reference to a block (a shared prefix).
  void retain(BlockId b);
  /// Drops a reference; at zero the block is free (and stays cached if it has a hash).
  void release(BlockId b);
  /// Gives a referenced block its content hash, making it findable once freed.
  void set_hash(BlockId b, std::uint64_t hash);
  /// The block holding `hash` in tier `t`, referenced or cached; -1 if none.
  BlockId find(std::uint64_t hash, KvTierIndex t = kDeviceTier) const;
  /// A free block that still holds cached content forgets it and becomes an empty slot (a policy
  /// that chooses its own victims, such as a radix tree evicting leaves, evicts through this).
  void drop_cached(BlockId b);
  /// Free slots that hold nothing cached: what allocate() takes before it evicts.
  std::int64_t empty_slots(KvTierIndex t = kDeviceTier) const { return tiers_[t].capacity - tiers_[t].used - tiers_[t].cached; }
  /// Takes a reference to the block holding `hash` (reviving it if cached); -1 if none.
  BlockId acquire_cached(std::uint64_t hash, KvTierIndex t = kDeviceTier);
  const KvBlock& block(BlockId b) const { return blocks_.at(static_cast<std::size_t>(b)); }

  /// Moves the blocks of `table` to tier `to` (new blocks there, old ones released) and records a
  /// transfer of `tokens` tokens. False, changing nothing, if `to` lacks room.
  bool move(std::vector<BlockId>& table, KvTierIndex to, std::int64_t tokens);
  /// Records a copy of `blocks` blocks (`tokens` tokens) from tier `from` to tier `to`, made by a
  /// policy that keeps copies of cached blocks in several tiers.
  void record_transfer(KvTierIndex from, KvTierIndex to, std::int64_t tokens, std::int64_t blocks, bool overlap = false,
                       bool layerwise = false);
  /// The cached block of tier `t` that allocate() would evict next (by the tier's eviction order); -1 if none.
  BlockId next_victim(KvTierIndex t) const;
  /// Transfers recorded since the last call, merged per (from, to, overlap, layerwise) in first-seen order.
  std::vector<KvTransfer>& pending_transfers() { return pending_; }

  /// Recounts every block (O(blocks)) and throws InvariantError unless the counters agree: no
  /// block both free and referenced, free-list blocks cached and unreferenced, every hash leading
  /// to a block that holds it, no tier over its capacity.
  void audit() const;

 private:
  struct Tier {
    std::string name;
    std::int64_t capacity = 0, used = 0, cached = 0;
    std::vector<BlockId> never_used;  ///< released blocks without a hash: reused first
    BlockId lru_head = -1, lru_tail = -1;
    absl::flat_hash_map<std::uint64_t, BlockId> by_hash;
    Eviction eviction = Eviction::lru;
    double ttl = std::numeric_limits<double>::infinity();
    std::int64_t expired = 0;
    double age = 0;  ///< LFU-DA: priority of the last block evicted
    /// LFU: cached blocks by (priority, order freed); the first is the next victim.
    std::set<std::tuple<double, std::uint64_t, BlockId>> by_priority;
  };
  /// Takes cached block b off the tier's free list (and its LFU order): it is referenced again or dropped.
  void lru_remove(Tier& t, BlockId b);
  /// Cached block b forgets its content; `evicted`: chosen to make room (ages an LFU tier), not expired.
  void drop(BlockId b, bool evicted);
  /// Drops b's hash from the tier's index, if the index still leads to b.
  void forget_hash(Tier& t, BlockId b);
  void lru_push_back(Tier& t, BlockId b);

  std::int64_t block_size_;
  std::vector<Tier> tiers_;
  std::vector<KvBlock> blocks_;  ///< grows to the peak number of live blocks, not the capacity
  std::vector<KvTransfer> pending_;
  double now_ = 0;
  std::uint64_t frees_ = 0;  ///< blocks freed so far: the LFU tie-break order
  bool any_ttl_ = false;
};

}  // namespace hetsim::serving
