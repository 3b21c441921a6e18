// vLLM's automatic prefix caching over paged blocks (vLLM V1 kv_cache_manager.py and
// block_pool.py; Kwon et al. SOSP'23 Sec. 4.4): a full block's hash chains its parent's hash with
// the content of its own tokens, so equal hashes mean equal prefixes. When a sequence is admitted,
// the longest run of its leading blocks found in device memory is taken (a reference each, reviving
// freed ones) and counted as computed: prefill feeds only the rest, while attention still reads
// the whole context. A hit leaves at least one token to compute (its logits give the next token):
// at most (tokens - 1) / block_size blocks. Blocks become findable once full and computed;
// freed blocks stay cached, evicted least recently freed first when their slot is needed, and a
// sequence frees its blocks tail first, so the shared head of a prefix outlives its tail.
//
// Content identity comes from the workload (Request::hash_ids): tokens the ids do not describe
// are the request's own, so its blocks there are never shared. Sizing is the paged manager's.
#include <fmt/format.h>

#include <algorithm>

#include "policies/kv_cache/paged.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

/// splitmix64's finalizer: a bijective 64-bit mix (Steele et al., OOPSLA'14).
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

class PrefixCachingKvManager final : public PagedKvManager {
 public:
  explicit PrefixCachingKvManager(const config::Node& cfg) : PagedKvManager(cfg) { caches_prefixes_ = true; }

  PrefixHit lookup(Sequence& seq) override {
    hash_blocks(seq);
    const auto limit = std::min(static_cast<std::int64_t>(seq.block_hashes.size()), (seq.known() - 1) / block_size_);
    PrefixHit hit;
    for (std::int64_t i = 0; i < limit; ++i) {
      const serving::BlockId b = store_->find(seq.block_hashes[static_cast<std::size_t>(i)]);
      if (b < 0) break;
      hit.tokens += block_size_;
      if (store_->block(b).refcount == 0) ++hit.free_blocks;
    }
    return hit;
  }

  void admit(Sequence& seq, const PrefixHit& hit, std::int64_t tokens) override {
    const std::int64_t n = hit.tokens / block_size_;
    for (std::int64_t i = 0; i < n; ++i) {
      const serving::BlockId b = store_->acquire_cached(seq.block_hashes[static_cast<std::size_t>(i)]);
      if (b < 0) throw InvariantError(fmt::format("sequence {}: cached block {} vanished between lookup and admission", seq.id, i));
      seq.blocks.push_back(b);
    }
    seq.hashed_blocks = n;
    seq.computed = hit.tokens;
    if (seq.cached_tokens < 0) seq.cached_tokens = hit.tokens;
    prefix_counts_.lookup_tokens += seq.known();
    prefix_counts_.hit_tokens += hit.tokens;
    grow(seq, seq.computed + tokens);
  }

  void on_computed(Sequence& seq) override {
    hash_blocks(seq);
    // Full, computed blocks that the content describes become findable.
    const auto full = std::min({seq.computed / block_size_, static_cast<std::int64_t>(seq.block_hashes.size()),
                                static_cast<std::int64_t>(seq.blocks.size())});
    for (std::int64_t i = seq.hashed_blocks; i < full; ++i)
      store_->set_hash(seq.blocks[static_cast<std::size_t>(i)], seq.block_hashes[static_cast<std::size_t>(i)]);
    seq.hashed_blocks = std::max(seq.hashed_blocks, full);
  }

  void release(Sequence& seq) override {
    on_computed(seq);
    // Tail first: the least recently freed block is evicted first, and the head is the most shared.
    for (auto it = seq.blocks.rbegin(); it != seq.blocks.rend(); ++it) store_->release(*it);
    std::vector<serving::BlockId>().swap(seq.blocks);
    seq.hashed_blocks = 0;
    seq.kv_tier = serving::kDeviceTier;
  }

 private:
  /// Fills seq.block_hashes once: block i's hash mixes block i-1's with the ids of the content
  /// units its tokens fall in and its position.
  void hash_blocks(Sequence& seq) const {
    if (!seq.block_hashes.empty() || seq.content_ids.empty() || seq.content_unit <= 0) return;
    const std::int64_t blocks = seq.content_tokens / block_size_;
    const auto unit = static_cast<std::int64_t>(seq.content_unit);
    seq.block_hashes.reserve(static_cast<std::size_t>(blocks));
    std::uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (std::int64_t i = 0; i < blocks; ++i) {
      const std::int64_t first = i * block_size_, last = first + block_size_ - 1;
      for (std::int64_t u = first / unit; u <= last / unit; ++u) h = mix(h ^ mix(seq.content_ids[static_cast<std::size_t>(u)] + 1));
      h = mix(h + static_cast<std::uint64_t>(first));
      seq.block_hashes.push_back(h == 0 ? 1 : h);  // 0 means "no hash" in the store
    }
  }
};

}  // namespace
HETSIM_REGISTER(KvManager, PrefixCachingKvManager, "prefix_caching",
                "paged blocks with vLLM automatic prefix caching: chained block hashes, LRU reuse of freed blocks");
}  // namespace hetsim::policies
