// vLLM's automatic prefix caching over paged blocks (vLLM V1 kv_cache_manager.py and
// block_pool.py; Kwon et al. SOSP'23 Sec. 4.4): a full block's hash chains its parent's hash with
// the content of its own tokens, so equal hashes mean equal prefixes. When a sequence is admitted,
// the longest run of its leading blocks found cached is taken (a reference each, reviving freed
// ones) and counted as computed: prefill feeds only the rest, while attention still reads the
// whole context. A hit leaves at least one token to compute (its logits give the next token): at
// most (tokens - 1) / block_size blocks. Blocks become findable once full and computed; freed
// blocks stay cached, evicted least recently freed first when their slot is needed, and a sequence
// frees its blocks tail first, so the shared head of a prefix outlives its tail.
//
// Tiers below device memory (`offload`, as LMCache, Mooncake's store, SGLang HiCache and vLLM's
// CPU offloading keep KV): each a tier of the replica's node with its own capacity and LRU order.
// Blocks enter the first of them when evicted from device memory (write: on_eviction) or as soon
// as they are computed (write: write_through); a block evicted from one tier goes down to the next.
// A hit in a lower tier is loaded back into device memory over the node's links before the step
// that uses it (contended, with the copy costs below), unless `load: when_faster` finds that
// computing those tokens again is faster. Copy costs: a block of paged KV is one piece per layer,
// K and V apart (vLLM's swap_blocks layout; `pieces_per_block` = 2 x layers by default), and block
// devices are read and written in requests of one piece, so scattered small blocks are slower
// than large contiguous ones. Each transfer (one per tier pair and step) costs `setup` (5 us: one
// driver call; cudaMemcpyAsync's per-call overhead is ~5-7 us, DualPath, Wu et al. 2026, Sec. 5.2),
// as batched submission does (vLLM's swap_blocks_batch / cuMemcpyBatchAsync); `per_piece: 5 us`
// models one call per piece instead (the unbatched swap_blocks loop).
//
// Content identity comes from the workload (Request::hash_ids; see block_hashes.hpp). Sizing is
// the paged manager's.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "policies/kv_cache/block_hashes.hpp"
#include "policies/kv_cache/paged.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class PrefixCachingKvManager final : public PagedKvManager {
 public:
  explicit PrefixCachingKvManager(const config::Node& cfg) : PagedKvManager(cfg) {
    caches_prefixes_ = true;
    if (!cfg.has("offload")) return;
    const config::Node offload = cfg.child("offload");
    const auto tiers = offload.child("tiers");
    // items() once: each call starts the list's resolved copy afresh.
    const auto items = tiers.is_sequence() ? tiers.items() : std::vector<config::Node>{};
    if (items.empty()) offload.fail_key("tiers", tiers.shown(), "expected a list of {tier: NAME, capacity: SIZE}, fastest first");
    for (const auto& t : items)
      requests_.push_back({.tier = t.get<std::string>("tier"),
                           .bytes_per_device = t.quantity("capacity", units::Dim::bytes).positive(),
                           .where = t,
                           .tier_key = "tier",
                           .size_key = "capacity"});
    const std::string write = offload.get<std::string>("write").default_to("on_eviction").one_of({"on_eviction", "write_through"});
    const std::string load = offload.get<std::string>("load").default_to("always").one_of({"always", "when_faster"});
    write_through_ = write == "write_through";
    load_when_faster_ = load == "when_faster";
    setup_ = offload.quantity("setup", units::Dim::time).default_to("5 us").non_negative();
    per_piece_ = offload.quantity("per_piece", units::Dim::time).default_to("0 s").non_negative();
    if (offload.has("pieces_per_block")) pieces_per_block_ = offload.get<std::int64_t>("pieces_per_block").in_range(1, 1 << 20);
  }

  void size(const KvSizing& s) override {
    PagedKvManager::size(s);
    bytes_per_token_ = s.kv_bytes_per_token;
    if (pieces_per_block_ == 0) pieces_per_block_ = 2 * std::max<std::int64_t>(1, s.layers);
    stats_.assign(1, KvTierStats{.name = "device", .capacity_blocks = store_->capacity()});
  }

  std::vector<KvTierRequest> kv_tiers() const override { return requests_; }
  void bind_kv_tiers(std::span<const KvTierBinding> bound) override {
    for (std::size_t i = 0; i < bound.size(); ++i) {
      const KvTierBinding& b = bound[i];
      if (store_->capacity(b.index) < 1)
        requests_[i].where.fail_key("capacity", requests_[i].where.child("capacity").scalar(),
                                    fmt::format("expected room for at least one KV block ({:.3g} MB per device)",
                                                bytes_per_token_ * static_cast<double>(block_size_) / 1e6));
      lower_.push_back({b.index, b.block_load_seconds});
      stats_.push_back(KvTierStats{.name = b.name, .capacity_blocks = store_->capacity(b.index)});
    }
  }

  PrefixHit lookup(Sequence& seq) override {
    if (lower_.empty()) return block_hashes::match(*store_, seq, block_size_);
    return match_tiers(seq, nullptr);
  }

  void admit(Sequence& seq, const PrefixHit& hit, std::int64_t tokens) override {
    if (hit.loaded_tokens == 0) {
      block_hashes::take(*store_, seq, hit, block_size_, prefix_counts_);
      stats_[0].hit_tokens += hit.tokens;
    } else {
      take_with_loads(seq, hit);
    }
    grow(seq, seq.computed + tokens);
  }

  void grow(Sequence& seq, std::int64_t tokens) override {
    // Room first, so that what device memory evicts can go down a tier.
    if (!lower_.empty()) make_room(serving::kDeviceTier, extra_blocks(seq, tokens));
    PagedKvManager::grow(seq, tokens);
  }

  void on_computed(Sequence& seq) override {
    block_hashes::compute(seq, block_size_);
    // Full, computed blocks that the content describes become findable.
    const std::int64_t full = block_hashes::full_described(seq, block_size_);
    for (std::int64_t i = seq.hashed_blocks; i < full; ++i) {
      const std::uint64_t h = seq.block_hashes[static_cast<std::size_t>(i)];
      store_->set_hash(seq.blocks[static_cast<std::size_t>(i)], h);
      // Written in the background: the block stays in device memory.
      if (write_through_ && store_->find(h, lower_.front().index) < 0) copy_down(0, h, serving::kDeviceTier, true);
    }
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

  CopyCost copy_cost(const serving::KvTransfer& t) const override {
    if (requests_.empty()) return {};  // no offload tiers: plain copies
    const double pieces = static_cast<double>(t.blocks * pieces_per_block_);
    return {.request_size = bytes_per_token_ * static_cast<double>(block_size_) / static_cast<double>(pieces_per_block_),
            .overhead = setup_ + pieces * per_piece_};
  }

  std::vector<KvTierStats> tier_stats() const override { return stats_; }

 private:
  struct Lower {
    serving::KvTierIndex index;
    double block_load_seconds;  ///< one block into device memory, alone on the route
  };

  /// The longest cached prefix over all tiers; `where` (if given) receives, per block, the tier
  /// index (0 = device, k = lower tier k - 1). With load: when_faster, stops before the first
  /// lower-tier block if loading what follows would take longer than computing it.
  PrefixHit match_tiers(Sequence& seq, std::vector<std::size_t>* where) {
    block_hashes::compute(seq, block_size_);
    const auto limit = std::min(static_cast<std::int64_t>(seq.block_hashes.size()), (seq.known() - 1) / block_size_);
    PrefixHit hit, device_only;
    double load = 0;
    bool device_run = true;  // no lower-tier block so far
    if (where) where->clear();
    for (std::int64_t i = 0; i < limit; ++i) {
      const std::uint64_t h = seq.block_hashes[static_cast<std::size_t>(i)];
      std::size_t found = 0;
      if (const serving::BlockId b = store_->find(h); b >= 0) {
        found = 1;
        if (store_->block(b).refcount > 0) ++hit.held_blocks;
      } else {
        for (std::size_t k = 0; k < lower_.size() && !found; ++k)
          if (store_->find(h, lower_[k].index) >= 0) found = k + 2;
        if (!found) break;
        if (device_run) device_only = hit;
        device_run = false;
        hit.loaded_tokens += block_size_;
        load += lower_[found - 2].block_load_seconds + static_cast<double>(pieces_per_block_) * per_piece_;
      }
      hit.tokens += block_size_;
      if (where) where->push_back(found - 1);
    }
    if (device_run) device_only = hit;
    if (load_when_faster_ && hit.loaded_tokens > 0 && prefill_seconds_per_token_ > 0 &&
        load > prefill_seconds_per_token_ * static_cast<double>(hit.loaded_tokens)) {
      if (where) where->resize(static_cast<std::size_t>(device_only.tokens / block_size_));
      return device_only;
    }
    return hit;
  }

  /// Admission onto a prefix partly in lower tiers: device blocks are taken, the others loaded
  /// into new device blocks (their lower-tier copies held meanwhile, so that making room cannot
  /// evict them).
  void take_with_loads(Sequence& seq, const PrefixHit& hit) {
    std::vector<std::size_t>& where = scratch_where_;
    const PrefixHit again = match_tiers(seq, &where);
    if (again.tokens != hit.tokens || again.loaded_tokens != hit.loaded_tokens)
      throw InvariantError(fmt::format("sequence {}: its cached prefix changed between lookup and admission", seq.id));
    const std::size_t n = where.size();
    seq.blocks.resize(n, -1);
    std::vector<serving::BlockId>& pinned = scratch_pinned_;
    pinned.assign(n, -1);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t h = seq.block_hashes[i];
      if (where[i] == 0) seq.blocks[i] = store_->acquire_cached(h);
      else pinned[i] = store_->acquire_cached(h, lower_[where[i] - 1].index);
    }
    make_room(serving::kDeviceTier, static_cast<std::int64_t>(hit.loaded_tokens / block_size_));
    for (std::size_t i = 0; i < n; ++i) {
      if (where[i] == 0) continue;
      const std::size_t k = where[i] - 1;
      seq.blocks[i] = store_->allocate();
      store_->set_hash(seq.blocks[i], seq.block_hashes[i]);
      store_->record_transfer(lower_[k].index, serving::kDeviceTier, block_size_, 1);
      store_->release(pinned[i]);  // stays cached there, now the most recently used
      KvTierStats& s = stats_[k + 1];
      s.hit_tokens += block_size_;
      s.load_seconds += lower_[k].block_load_seconds + static_cast<double>(pieces_per_block_) * per_piece_;
      s.recompute_seconds += prefill_seconds_per_token_ * static_cast<double>(block_size_);
    }
    stats_[0].hit_tokens += hit.tokens - hit.loaded_tokens;
    block_hashes::admitted(seq, hit, block_size_, prefix_counts_);
  }

  /// Frees `blocks` empty slots in store tier `t` (device or a lower one): its least recently
  /// freed cached blocks are dropped, each first copied one tier down if it is not there yet.
  void make_room(serving::KvTierIndex t, std::int64_t blocks) {
    const std::size_t level = level_of(t);
    while (store_->empty_slots(t) < blocks) {
      const serving::BlockId victim = store_->lru_head(t);
      if (victim < 0) return;  // all referenced: allocate() reports a real overflow
      const std::uint64_t h = store_->block(victim).hash;
      // Down from device memory the copy must land before the slot is reused; between lower
      // tiers it runs in the background.
      if (level < lower_.size() && store_->find(h, lower_[level].index) < 0)
        copy_down(level, h, t, t != serving::kDeviceTier);
      store_->drop_cached(victim);
      ++stats_[level].evicted_blocks;
    }
  }

  /// Copies the block with hash `h` from store tier `from` into lower tier `k` as a cached block;
  /// `overlap`: the copy may run while the step computes (its source slot is not reused by it).
  void copy_down(std::size_t k, std::uint64_t h, serving::KvTierIndex from, bool overlap = false) {
    const serving::KvTierIndex to = lower_[k].index;
    make_room(to, 1);
    if (store_->empty_slots(to) < 1) return;  // every slot held by loads in flight: not kept
    const serving::BlockId b = store_->allocate(to);
    store_->set_hash(b, h);
    store_->release(b);
    store_->record_transfer(from, to, block_size_, 1, overlap);
    stats_[k + 1].written_tokens += block_size_;
  }

  /// 0 for device memory, k + 1 for lower tier k.
  std::size_t level_of(serving::KvTierIndex t) const {
    for (std::size_t k = 0; k < lower_.size(); ++k)
      if (lower_[k].index == t) return k + 1;
    return 0;
  }

  std::vector<KvTierRequest> requests_;
  std::vector<Lower> lower_;  ///< fastest first
  std::vector<KvTierStats> stats_;
  bool write_through_ = false, load_when_faster_ = false;
  double setup_ = 0, per_piece_ = 0;
  std::int64_t pieces_per_block_ = 0;  ///< 0 until size(): 2 x layers unless given
  double bytes_per_token_ = 0;
  std::vector<std::size_t> scratch_where_;
  std::vector<serving::BlockId> scratch_pinned_;
};

}  // namespace
HETSIM_REGISTER(KvManager, PrefixCachingKvManager, "prefix_caching",
                "paged blocks with vLLM automatic prefix caching: chained block hashes, LRU reuse of freed blocks; "
                "offload: tiers below device memory (host DRAM, CXL, SSD) with loads over the node's links");
}  // namespace hetsim::policies
