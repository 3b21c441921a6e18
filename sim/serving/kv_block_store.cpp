#include "sim/serving/kv_block_store.hpp"

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace hetsim::serving {

KvBlockStore::KvBlockStore(std::int64_t block_size, std::int64_t device_blocks) : block_size_(block_size) {
  add_tier("device", device_blocks);
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
    // Evict the least recently freed cached block (vLLM's free-list order).
    b = t.lru_head;
    lru_remove(t, b);
    forget_hash(t, b);
  }
  KvBlock& k = blocks_[static_cast<std::size_t>(b)];
  k.hash = 0;
  k.refcount = 1;
  ++t.used;
  return b;
}

void KvBlockStore::retain(BlockId b) {
  KvBlock& k = blocks_.at(static_cast<std::size_t>(b));
  if (k.refcount <= 0) throw InvariantError(fmt::format("KV block {} retained while free", b));
  ++k.refcount;
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

void KvBlockStore::drop_cached(BlockId b) {
  KvBlock& k = blocks_.at(static_cast<std::size_t>(b));
  if (k.refcount != 0 || k.hash == 0)
    throw InvariantError(fmt::format("KV block {} dropped from the cache while referenced {} times (hash {})", b, k.refcount, k.hash));
  Tier& t = tiers_[k.tier];
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

void KvBlockStore::record_transfer(KvTierIndex from, KvTierIndex to, std::int64_t tokens, std::int64_t blocks, bool overlap) {
  for (auto& p : pending_)
    if (p.from == from && p.to == to && p.overlap == overlap) {
      p.tokens += tokens;
      p.blocks += blocks;
      return;
    }
  pending_.push_back({from, to, tokens, blocks, overlap});
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
