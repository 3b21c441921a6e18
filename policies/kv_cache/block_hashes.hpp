#pragma once
// Content identity of KV blocks, shared by the prefix-caching managers: a full block's hash chains
// its parent's with the content ids (Request::hash_ids) of the units its tokens fall in and its
// position, so equal hashes mean equal prefixes (vLLM V1 hash_block_tokens; the radix tree of SGLang
// matches the same prefixes token run by token run). Tokens the ids do not describe are the
// sequence's own: its blocks there get no hash and are never shared.
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

#include "sim/core/error.hpp"
#include "sim/serving/kv_block_store.hpp"
#include "sim/serving/kv_manager.hpp"
#include "sim/serving/sequence.hpp"

namespace hetsim::policies::block_hashes {

/// splitmix64's finalizer: a bijective 64-bit mix (Steele et al., OOPSLA'14).
inline std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/// Fills seq.block_hashes once with the hashes of the full blocks its content ids describe.
inline void compute(Sequence& seq, std::int64_t block_size) {
  if (!seq.block_hashes.empty() || seq.content_ids.empty() || seq.content_unit <= 0) return;
  const std::int64_t blocks = seq.content_tokens / block_size;
  const auto unit = static_cast<std::int64_t>(seq.content_unit);
  seq.block_hashes.reserve(static_cast<std::size_t>(blocks));
  std::uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (std::int64_t i = 0; i < blocks; ++i) {
    const std::int64_t first = i * block_size, last = first + block_size - 1;
    for (std::int64_t u = first / unit; u <= last / unit; ++u) h = mix(h ^ mix(seq.content_ids[static_cast<std::size_t>(u)] + 1));
    h = mix(h + static_cast<std::uint64_t>(first));
    seq.block_hashes.push_back(h == 0 ? 1 : h);  // 0 means "no hash" in the store
  }
}

/// Fills seq.block_hashes once with position-free hashes: a full block's hash depends only on the
/// content ids of the units it covers (no parent, no position), so the blocks of a chunk match
/// wherever the chunk sits in a prompt (CacheBlend reuses non-prefix chunks). A block straddling
/// two chunks mixes both, and matches only where the same two meet again.
inline void compute_position_free(Sequence& seq, std::int64_t block_size) {
  if (!seq.block_hashes.empty() || seq.content_ids.empty() || seq.content_unit <= 0) return;
  const std::int64_t blocks = seq.content_tokens / block_size;
  const auto unit = static_cast<std::int64_t>(seq.content_unit);
  seq.block_hashes.reserve(static_cast<std::size_t>(blocks));
  for (std::int64_t i = 0; i < blocks; ++i) {
    std::uint64_t h = 0x6a09e667f3bcc909ULL;  // apart from compute()'s seed: the two never collide by design
    const std::int64_t first = i * block_size, last = first + block_size - 1;
    for (std::int64_t u = first / unit; u <= last / unit; ++u) h = mix(h ^ mix(seq.content_ids[static_cast<std::size_t>(u)] + 1));
    // Where in its first unit the block starts (blocks smaller than a unit).
    h = mix(h + static_cast<std::uint64_t>(first % unit));
    seq.block_hashes.push_back(h == 0 ? 1 : h);
  }
}

/// The longest run of `seq`'s leading blocks found in device memory, leaving at least its last
/// known token to compute (its logits give the next token): at most (known - 1) / block_size blocks.
inline PrefixHit match(const serving::KvBlockStore& store, Sequence& seq, std::int64_t block_size) {
  compute(seq, block_size);
  const auto limit = std::min(static_cast<std::int64_t>(seq.block_hashes.size()), (seq.known() - 1) / block_size);
  PrefixHit hit;
  for (std::int64_t i = 0; i < limit; ++i) {
    const serving::BlockId b = store.find(seq.block_hashes[static_cast<std::size_t>(i)]);
    if (b < 0) break;
    hit.tokens += block_size;
    if (store.block(b).refcount > 0) ++hit.held_blocks;
  }
  return hit;
}

/// `seq`, now holding the blocks of its cached prefix `hit`, counts them as computed (and hashed),
/// and the admission goes into `counts`.
inline void admitted(Sequence& seq, const PrefixHit& hit, std::int64_t block_size, PrefixCounts& counts) {
  seq.hashed_blocks = hit.tokens / block_size;
  seq.computed = hit.tokens;
  if (seq.cached_tokens < 0) seq.cached_tokens = hit.tokens;
  counts.lookup_tokens += seq.known();
  counts.hit_tokens += hit.tokens;
  counts.loaded_tokens += hit.loaded_tokens;
}

/// Admits `seq` onto its cached prefix `hit`, all in device memory (what match() found just
/// before): a reference to each block, counted as computed.
inline void take(serving::KvBlockStore& store, Sequence& seq, const PrefixHit& hit, std::int64_t block_size,
                 PrefixCounts& counts) {
  const std::int64_t n = hit.tokens / block_size;
  for (std::int64_t i = 0; i < n; ++i) {
    const serving::BlockId b = store.acquire_cached(seq.block_hashes[static_cast<std::size_t>(i)]);
    if (b < 0) throw InvariantError(fmt::format("sequence {}: cached block {} vanished between lookup and admission", seq.id, i));
    seq.blocks.push_back(b);
  }
  admitted(seq, hit, block_size, counts);
}

/// Full, computed blocks of `seq` that its content describes: those a manager may make findable.
inline std::int64_t full_described(const Sequence& seq, std::int64_t block_size) {
  return std::min({seq.computed / block_size, static_cast<std::int64_t>(seq.block_hashes.size()),
                   static_cast<std::int64_t>(seq.blocks.size())});
}

}  // namespace hetsim::policies::block_hashes
