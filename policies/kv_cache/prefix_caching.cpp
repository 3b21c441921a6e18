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
// Content identity comes from the workload (Request::hash_ids; see block_hashes.hpp). Sizing is
// the paged manager's.
#include <algorithm>

#include "policies/kv_cache/block_hashes.hpp"
#include "policies/kv_cache/paged.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class PrefixCachingKvManager final : public PagedKvManager {
 public:
  explicit PrefixCachingKvManager(const config::Node& cfg) : PagedKvManager(cfg) { caches_prefixes_ = true; }

  PrefixHit lookup(Sequence& seq) override { return block_hashes::match(*store_, seq, block_size_); }

  void admit(Sequence& seq, const PrefixHit& hit, std::int64_t tokens) override {
    block_hashes::take(*store_, seq, hit, block_size_, prefix_counts_);
    grow(seq, seq.computed + tokens);
  }

  void on_computed(Sequence& seq) override {
    block_hashes::compute(seq, block_size_);
    // Full, computed blocks that the content describes become findable.
    const std::int64_t full = block_hashes::full_described(seq, block_size_);
    for (std::int64_t i = seq.hashed_blocks; i < full; ++i)
      store_->set_hash(seq.blocks[static_cast<std::size_t>(i)], seq.block_hashes[static_cast<std::size_t>(i)]);
    seq.hashed_blocks = std::max(seq.hashed_blocks, full);
  }

  void release(Sequence& seq) override {
    on_computed(seq);
    release_blocks(seq.blocks);
    std::vector<serving::BlockId>().swap(seq.blocks);
    seq.hashed_blocks = 0;
    seq.kv_tier = serving::kDeviceTier;
  }

  void release_blocks(const std::vector<serving::BlockId>& blocks) override {
    // Tail first: the least recently freed block is evicted first, and the head is the most shared.
    for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) store_->release(*it);
  }
};

}  // namespace
HETSIM_REGISTER(KvManager, PrefixCachingKvManager, "prefix_caching",
                "paged blocks with vLLM automatic prefix caching: chained block hashes, LRU reuse of freed blocks");
}  // namespace hetsim::policies
