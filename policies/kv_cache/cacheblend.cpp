// CacheBlend (Yao et al., EuroSys'25; LMCache's blending): reuses the KV of text chunks wherever
// they sit in a prompt, not only a common prefix, as RAG prompts are retrieved chunks in varying
// order. A chunk's KV was computed without the chunks before it, so its cross-attention is
// missing; CacheBlend recomputes the `recompute_ratio` of the reused tokens whose KV deviates most
// (high-KV-deviation tokens, chosen layer by layer), 15% by default (paper Sec. 5: "the default
// recompute ratio"; LMCache blend_recompute_ratio 0.15), which keeps quality within 0.01-0.03 of a
// full prefill (Sec. 7) at a fraction of its compute.
//
// Modelled as prefix caching (policies/kv_cache/prefix_caching.hpp) with position-free block
// hashes (block_hashes::compute_position_free), so a chunk's blocks are found at any position:
//  - the leading run of cached blocks is a plain prefix hit (shared blocks, no recompute: the
//    start of a prompt is computed alike whatever follows);
//  - every further cached block is blended: the request gets its own blocks (its KV differs from
//    the cached copy), the cached KV is copied into them (loaded over the links from a lower tier;
//    an HBM-to-HBM copy is not priced), and recompute_ratio of its tokens are computed again. For
//    the step's cost the blended tokens that are not recomputed count as computed, like a cached
//    prefix: prefill feeds the recomputed and the new tokens, each attending to the whole context.
// Blocks straddling two chunks (chunks not multiples of the block size) are found only where the
// same two chunks meet again. Loads of blended chunks stream layer by layer under the recompute
// with `offload.load_overlap: layerwise`, as CacheBlend's loader pipelines them (Sec. 5).
#include <fmt/format.h>

#include <cmath>

#include "policies/kv_cache/prefix_caching.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class CacheBlendKvManager final : public PrefixCachingKvManager {
 public:
  explicit CacheBlendKvManager(const config::Node& cfg)
      : PrefixCachingKvManager(cfg), ratio_(cfg.get<double>("recompute_ratio").default_to(0.15).in_range(0.0, 1.0)) {
    if (load_when_faster_)
      cfg.child("offload").fail_key("load", "when_faster", "cacheblend loads every reused chunk; expected load: always");
  }

  PrefixHit lookup(Sequence& seq) override { return scan(seq).hit; }

  void admit(Sequence& seq, const PrefixHit& hit, std::int64_t tokens) override {
    const Scan s = scan(seq);
    if (s.hit.tokens != hit.tokens || s.hit.held_blocks != hit.held_blocks)
      throw InvariantError(fmt::format("sequence {}: its cached chunks changed between lookup and admission", seq.id));
    const bool first_admission = seq.cached_tokens < 0;
    // Blended chunks first, while the scan's view holds (taking the lead may evict their sources):
    // copied into the request's own blocks (grow() below allocates them), part recomputed.
    std::int64_t loaded = 0;
    for (const auto& [index, level] : s.blended) {
      const std::uint64_t h = seq.block_hashes[static_cast<std::size_t>(index)];
      const Place& p = places_[level];
      p.store->release(p.store->acquire_cached(h, p.index));  // a use: most recently used there now
      KvTierStats& st = stats_[level];
      st.hit_tokens += block_size_;
      if (level == 0) continue;
      store_->record_transfer(p.transfer, serving::kDeviceTier, block_size_, 1, false, layerwise_);
      loaded += block_size_;
      st.load_seconds += block_load(level);
      st.recompute_seconds += prefill_seconds_per_token_ * static_cast<double>(block_size_);
    }
    // The leading run: a prefix hit as prefix caching takes it.
    if (s.lead.loaded_tokens == 0) {
      block_hashes::take(*store_, seq, s.lead, block_size_, prefix_counts_);
      stats_[0].hit_tokens += s.lead.tokens;
    } else {
      take_with_loads(seq, s.lead);
    }
    const auto blended_tokens = static_cast<std::int64_t>(s.blended.size()) * block_size_;
    seq.computed += s.blended_kept;
    if (first_admission) seq.cached_tokens = s.lead.tokens + blended_tokens;
    prefix_counts_.hit_tokens += blended_tokens;
    prefix_counts_.loaded_tokens += loaded;
    grow(seq, seq.computed + tokens);
  }

  void on_computed(Sequence& seq) override {
    block_hashes::compute_position_free(seq, block_size_);
    PrefixCachingKvManager::on_computed(seq);
  }

 private:
  struct Scan {
    PrefixHit hit;   ///< what admission counts as computed: the lead plus the blended tokens kept
    PrefixHit lead;  ///< the leading run of cached blocks (a prefix hit)
    std::vector<std::pair<std::int64_t, std::size_t>> blended;  ///< (block index, level) of the other cached blocks
    std::int64_t blended_kept = 0;  ///< blended tokens not recomputed
  };

  /// The cached blocks of waiting `seq` (leaving its last token to compute), each in the fastest level holding it.
  Scan scan(Sequence& seq) {
    block_hashes::compute_position_free(seq, block_size_);
    Scan s;
    const auto limit = std::min(static_cast<std::int64_t>(seq.block_hashes.size()), (seq.known() - 1) / block_size_);
    bool leading = true;
    for (std::int64_t i = 0; i < limit; ++i) {
      const std::uint64_t h = seq.block_hashes[static_cast<std::size_t>(i)];
      std::size_t level = places_.size();
      for (std::size_t l = 0; l < places_.size() && level == places_.size(); ++l)
        if (holds(l, h)) level = l;
      if (level == places_.size()) {
        leading = false;
        continue;
      }
      if (!leading) {
        s.blended.emplace_back(i, level);
        continue;
      }
      s.lead.tokens += block_size_;
      if (level > 0) s.lead.loaded_tokens += block_size_;
      else if (store_->block(store_->find(h)).refcount > 0) ++s.lead.held_blocks;
    }
    const auto blended_tokens = static_cast<std::int64_t>(s.blended.size()) * block_size_;
    s.blended_kept = blended_tokens - static_cast<std::int64_t>(std::ceil(static_cast<double>(blended_tokens) * ratio_));
    s.hit = s.lead;
    s.hit.tokens += s.blended_kept;
    return s;
  }

  double ratio_;
};

}  // namespace
HETSIM_REGISTER(KvManager, CacheBlendKvManager, "cacheblend",
                "CacheBlend: prefix caching that also reuses cached chunks anywhere in the prompt (position-free block "
                "hashes), recomputing recompute_ratio (0.15) of their tokens; offload tiers as prefix_caching");
}  // namespace hetsim::policies
