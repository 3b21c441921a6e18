#include "sim/serving/kv_block_store.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "sim/core/error.hpp"

namespace hetsim::serving {

std::optional<Eviction> parse_eviction(std::string_view name) {
  if (name == "lru") return Eviction::lru;
  if (name == "lfu") return Eviction::lfu;
  return std::nullopt;
}

KvBlockStore::KvBlockStore(std::int64_t block_size, std::int64_t device_blocks, std::string first_tier)
    : block_size_(block_size) {
  add_tier(std::move(first_tier), device_blocks);
}

void KvBlockStore::set_policy(KvTierIndex t, Eviction eviction, double ttl) {
  Tier& tier = tiers_.at(t);
  if (tier.cached > 0) throw InvariantError(fmt::format("KV tier {}: eviction policy changed while it caches blocks", tier.name));
  tier.eviction = eviction;
  tier.ttl = ttl;
  any_ttl_ = any_ttl_ || ttl < std::numeric_limits<double>::infinity();
}

void KvBlockStore::advance(double now) {
  if (now < now_) throw InvariantError(fmt::format("KV store: time went back from {} to {}", now_, now));
  now_ = now;
  if (!any_ttl_) return;
  for (std::size_t i = 0; i < tiers_.size(); ++i) {
    Tier& t = tiers_[i];
    if (!(t.ttl < std::numeric_limits<double>::infinity())) continue;
    // The free list is in the order blocks were freed, so the expired ones lead it.
    while (t.lru_head >= 0 && blocks_[static_cast<std::size_t>(t.lru_head)].freed_at + t.ttl <= now) {
      drop(t.lru_head, false);
      ++t.expired;
    }
  }
}

BlockId KvBlockStore::next_victim(KvTierIndex t) const {
  const Tier& tier = tiers_[t];
  if (tier.eviction == Eviction::lfu) return tier.by_priority.empty() ? -1 : std::get<2>(*tier.by_priority.begin());
  return tier.lru_head;
}

KvTierIndex KvBlockStore::add_tier(std::string name, std::int64_t capacity_blocks) {
  if (tiers_.size() >= 255) throw InvariantError("KV store: too many tiers");
  Tier t;
  t.name = std::move(name);
  t.capacity = capacity_blocks;
  tiers_.push_back(std::move(t));
  return static_cast<KvTierIndex>(tiers_.size() - 1);
}

void KvBlockStore::lru_remove(Tier& t, BlockId b) {
  KvBlock& k = blocks_[static_cast<std::size_t>(b)];
  if (k.lru_prev >= 0) blocks_[static_cast<std::size_t>(k.lru_prev)].lru_next = k.lru_next;
  else t.lru_head = k.lru_next;
  if (k.lru_next >= 0) blocks_[static_cast<std::size_t>(k.lru_next)].lru_prev = k.lru_prev;
  else t.lru_tail = k.lru_prev;
  k.lru_prev = k.lru_next = -1;
  --t.cached;
  if (t.eviction == Eviction::lfu) t.by_priority.erase({k.priority, k.freed_order, b});
}

void KvBlockStore::forget_hash(Tier& t, BlockId b) {
  // Only if the hash still leads here: a later block with the same content may have taken it over.
  const std::uint64_t hash = blocks_[static_cast<std::size_t>(b)].hash;
  if (hash == 0) return;
  if (auto it = t.by_hash.find(hash); it != t.by_hash.end() && it->second == b) t.by_hash.erase(it);
}

void KvBlockStore::lru_push_back(Tier& t, BlockId b) {
  KvBlock& k = blocks_[static_cast<std::size_t>(b)];
  k.lru_prev = t.lru_tail;
  k.lru_next = -1;
  if (t.lru_tail >= 0) blocks_[static_cast<std::size_t>(t.lru_tail)].lru_next = b;
  else t.lru_head = b;
  t.lru_tail = b;
  ++t.cached;
  k.freed_at = now_;
  k.freed_order = frees_++;
  if (t.eviction == Eviction::lfu) {
    k.priority = t.age + static_cast<double>(k.uses);
    t.by_priority.emplace(k.priority, k.freed_order, b);
  }
}

BlockId KvBlockStore::allocate(KvTierIndex tier) {
  Tier& t = tiers_.at(tier);
  if (t.used >= t.capacity)
    throw InvariantError(fmt::format("KV capacity exceeded in tier {}: {} of {} blocks in use", t.name, t.used, t.capacity));
  BlockId b;
  if (!t.never_used.empty()) {
    b = t.never_used.back();
    t.never_used.pop_back();
  } else if (t.used + t.cached < t.capacity) {
    b = static_cast<BlockId>(blocks_.size());
    blocks_.emplace_back();
    blocks_.back().tier = tier;
  } else {
    // Evict a cached block: the least recently freed (vLLM's free-list order) or, LFU, the least used.
    b = next_victim(tier);
    if (t.eviction == Eviction::lfu) t.age = blocks_[static_cast<std::size_t>(b)].priority;
    lru_remove(t, b);
    forget_hash(t, b);
  }
  KvBlock& k = blocks_[static_cast<std::size_t>(b)];
  k.hash = 0;
  k.refcount = 1;
  k.uses = 1;
  ++t.used;
  return b;
}

void KvBlockStore::retain(BlockId b) {
  KvBlock& k = blocks_.at(static_cast<std::size_t>(b));
  if (k.refcount <= 0) throw InvariantError(fmt::format("KV block {} retained while free", b));
  ++k.refcount;
  ++k.uses;
}

void KvBlockStore::release(BlockId b) {
  KvBlock& k = blocks_.at(static_cast<std::size_t>(b));
  if (k.refcount <= 0) throw InvariantError(fmt::format("KV block {} released while free", b));
  if (--k.refcount > 0) return;
  Tier& t = tiers_[k.tier];
  --t.used;
  if (k.hash != 0) lru_push_back(t, b);
  else t.never_used.push_back(b);
}

void KvBlockStore::set_hash(BlockId b, std::uint64_t hash) {
  KvBlock& k = blocks_.at(static_cast<std::size_t>(b));
  if (k.refcount <= 0) throw InvariantError(fmt::format("KV block {} hashed while free", b));
  Tier& t = tiers_[k.tier];
  forget_hash(t, b);
  k.hash = hash;
  if (hash != 0) t.by_hash[hash] = b;  // a later block with the same content shadows an earlier one
}

void KvBlockStore::drop_cached(BlockId b) { drop(b, true); }

void KvBlockStore::drop(BlockId b, bool evicted) {
  KvBlock& k = blocks_.at(static_cast<std::size_t>(b));
  if (k.refcount != 0 || k.hash == 0)
    throw InvariantError(fmt::format("KV block {} dropped from the cache while referenced {} times (hash {})", b, k.refcount, k.hash));
  Tier& t = tiers_[k.tier];
  // An LFU eviction ages the tier; a TTL expiry is not a choice between blocks and does not.
  if (evicted && t.eviction == Eviction::lfu) t.age = std::max(t.age, k.priority);
  lru_remove(t, b);
  forget_hash(t, b);
  k.hash = 0;
  t.never_used.push_back(b);
}

BlockId KvBlockStore::find(std::uint64_t hash, KvTierIndex tier) const {
  const auto& m = tiers_.at(tier).by_hash;
  auto it = m.find(hash);
  return it == m.end() ? -1 : it->second;
}

BlockId KvBlockStore::acquire_cached(std::uint64_t hash, KvTierIndex tier) {
  const BlockId b = find(hash, tier);
  if (b < 0) return -1;
  KvBlock& k = blocks_[static_cast<std::size_t>(b)];
  Tier& t = tiers_[tier];
  if (k.refcount == 0) {
    lru_remove(t, b);
    ++t.used;
  }
  ++k.refcount;
  ++k.uses;
  return b;
}

bool KvBlockStore::move(std::vector<BlockId>& table, KvTierIndex to, std::int64_t tokens) {
  if (table.empty()) return true;
  const KvTierIndex from = blocks_.at(static_cast<std::size_t>(table.front())).tier;
  if (from == to) return true;
  if (free(to) < static_cast<std::int64_t>(table.size())) return false;
  for (BlockId& b : table) {
    const std::uint64_t hash = blocks_[static_cast<std::size_t>(b)].hash;
    release(b);
    b = allocate(to);
    if (hash != 0) set_hash(b, hash);
  }
  record_transfer(from, to, tokens, static_cast<std::int64_t>(table.size()));
  return true;
}

void KvBlockStore::record_transfer(KvTierIndex from, KvTierIndex to, std::int64_t tokens, std::int64_t blocks, bool overlap,
                                   bool layerwise) {
  for (auto& p : pending_)
    if (p.from == from && p.to == to && p.overlap == overlap && p.layerwise == layerwise) {
      p.tokens += tokens;
      p.blocks += blocks;
      return;
    }
  pending_.push_back({from, to, tokens, blocks, overlap, layerwise});
}

void KvBlockStore::audit() const {
  // Recount everything from the blocks and compare with the counters the operations keep.
  std::vector<std::int64_t> used(tiers_.size()), cached(tiers_.size()), slots(tiers_.size());
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    const KvBlock& k = blocks_[i];
    if (k.refcount < 0) throw InvariantError(fmt::format("KV block {}: reference count {}", i, k.refcount));
    ++slots[k.tier];
    if (k.refcount > 0) ++used[k.tier];
  }
  for (std::size_t t = 0; t < tiers_.size(); ++t) {
    const Tier& tier = tiers_[t];
    for (BlockId b = tier.lru_head; b >= 0; b = blocks_[static_cast<std::size_t>(b)].lru_next) {
      const KvBlock& k = blocks_[static_cast<std::size_t>(b)];
      if (k.refcount != 0 || k.hash == 0 || k.tier != t)
        throw InvariantError(fmt::format("KV tier {}: block {} is on the free list but referenced {} times, hash {}, tier {}",
                                         tier.name, b, k.refcount, k.hash, k.tier));
      ++cached[t];
    }
    if (tier.eviction == Eviction::lfu && static_cast<std::int64_t>(tier.by_priority.size()) != tier.cached)
      throw InvariantError(fmt::format("KV tier {}: {} blocks in the LFU order, {} cached", tier.name, tier.by_priority.size(), tier.cached));
    for (BlockId b : tier.never_used)
      if (blocks_[static_cast<std::size_t>(b)].refcount != 0)
        throw InvariantError(fmt::format("KV tier {}: block {} is free and referenced", tier.name, b));
    for (const auto& [hash, b] : tier.by_hash)
      if (blocks_[static_cast<std::size_t>(b)].hash != hash || blocks_[static_cast<std::size_t>(b)].tier != t)
        throw InvariantError(fmt::format("KV tier {}: hash {} leads to block {}, which holds {}", tier.name, hash, b,
                                         blocks_[static_cast<std::size_t>(b)].hash));
    if (used[t] != tier.used || cached[t] != tier.cached ||
        slots[t] != tier.used + tier.cached + static_cast<std::int64_t>(tier.never_used.size()) || tier.used > tier.capacity ||
        slots[t] > tier.capacity)
      throw InvariantError(fmt::format("KV tier {}: {} blocks referenced (counted {}), {} cached (counted {}), {} never "
                                       "used, {} slots, capacity {}",
                                       tier.name, used[t], tier.used, cached[t], tier.cached, tier.never_used.size(),
                                       slots[t], tier.capacity));
  }
}

}  // namespace hetsim::serving
