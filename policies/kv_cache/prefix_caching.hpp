#pragma once
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
// Each lower tier has its own eviction order (`eviction: lru`, or `lfu`: least frequently used
// with dynamic aging, as LMCache's LFU policy) and optionally a time to live (`ttl`, as hosted
// prompt caches drop prefixes idle for 5 minutes to an hour); `ttl` on the policy itself applies
// to device memory. A tier given as `store: NAME` is a KV store node of the cluster
// (cluster.kv_stores; Mooncake Store, LMCache's remote backend): one pool shared by every
// replica, reached over the NICs and the fabric, so one replica's prefill is another's hit.
// `load_overlap: layerwise` streams loads layer by layer under the step's compute (LMCache and
// CacheBlend pipeline the loading of layer i + 1 with the compute of layer i), so a step ends at
// max(compute, load) plus one layer; `none` (default) loads everything before the step.
//
// Content identity comes from the workload (Request::hash_ids; see block_hashes.hpp). Sizing is
// the paged manager's.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "policies/kv_cache/block_hashes.hpp"
#include "policies/kv_cache/paged.hpp"
#include "sim/core/error.hpp"

namespace hetsim::policies {

class PrefixCachingKvManager : public PagedKvManager {
 public:
  explicit PrefixCachingKvManager(const config::Node& cfg) : PagedKvManager(cfg) {
    caches_prefixes_ = true;
    if (cfg.has("ttl")) device_ttl_ = cfg.quantity("ttl", units::Dim::time).positive().value();
    if (!cfg.has("offload")) return;
    const config::Node offload = cfg.child("offload");
    const auto tiers = offload.child("tiers");
    // items() once: each call starts the list's resolved copy afresh.
    const auto items = tiers.is_sequence() ? tiers.items() : std::vector<config::Node>{};
    if (items.empty()) offload.fail_key("tiers", tiers.shown(), "expected a list of {tier: NAME, capacity: SIZE}, fastest first");
    for (const auto& t : items) {
      const std::string store = t.get<std::string>("store").default_to("");
      if (store.empty() && !t.has("tier")) t.fail_key("tier", "", "expected a tier of the replica's node (or store: NAME, a KV store node)");
      requests_.push_back({.tier = t.get<std::string>("tier").default_to(""),
                           .bytes_per_device = t.quantity("capacity", units::Dim::bytes).positive(),
                           .where = t,
                           .tier_key = store.empty() ? "tier" : "store",
                           .size_key = "capacity",
                           .store = store,
                           .chunk_tokens = t.has("chunk_tokens") ? t.get<std::int64_t>("chunk_tokens").in_range(1, 1 << 20).value()
                                                                 : std::int64_t{0}});
      policies_.push_back(tier_policy(t));
      if (t.has("write_through")) through_.push_back(t.get<bool>("write_through").value());
      else through_.push_back(-1);  // as `write` says (the first tier only)
    }
    const std::string write = offload.get<std::string>("write").default_to("on_eviction").one_of({"on_eviction", "write_through"});
    const std::string load = offload.get<std::string>("load").default_to("always").one_of({"always", "when_faster"});
    // Which tiers get every block as it is computed: the first with write: write_through, and any
    // tier with write_through: true (a KV store behind a private DRAM tier, as LMCache stores to
    // all its backends).
    for (std::size_t k = 0; k < through_.size(); ++k)
      if (through_[k] < 0) through_[k] = k == 0 && write == "write_through" ? 1 : 0;
    load_when_faster_ = load == "when_faster";
    setup_ = offload.quantity("setup", units::Dim::time).default_to("5 us").non_negative();
    per_piece_ = offload.quantity("per_piece", units::Dim::time).default_to("0 s").non_negative();
    if (offload.has("pieces_per_block")) pieces_per_block_ = offload.get<std::int64_t>("pieces_per_block").in_range(1, 1 << 20);
    layerwise_ = offload.get<std::string>("load_overlap").default_to("none").one_of({"none", "layerwise"}).value() == "layerwise";
  }

  /// A tier's eviction order and time to live (`eviction`, `ttl` keys of `cfg`).
  static std::pair<serving::Eviction, double> tier_policy(const config::Node& cfg) {
    const auto eviction = *serving::parse_eviction(cfg.get<std::string>("eviction").default_to("lru").one_of({"lru", "lfu"}).value());
    const double ttl = cfg.has("ttl") ? cfg.quantity("ttl", units::Dim::time).positive().value()
                                      : std::numeric_limits<double>::infinity();
    return {eviction, ttl};
  }

  void size(const KvSizing& s) override {
    PagedKvManager::size(s);
    bytes_per_token_ = s.kv_bytes_per_token;
    if (pieces_per_block_ == 0) pieces_per_block_ = 2 * std::max<std::int64_t>(1, s.layers);
    store_->set_policy(serving::kDeviceTier, serving::Eviction::lru, device_ttl_);
    stats_.assign(1, KvTierStats{.name = "device", .capacity_blocks = store_->capacity()});
    places_.assign(1, Place{store_.get(), serving::kDeviceTier, serving::kDeviceTier, 0});
  }

  std::vector<KvTierRequest> kv_tiers() const override { return requests_; }
  void bind_kv_tiers(std::span<const KvTierBinding> bound) override {
    for (std::size_t i = 0; i < bound.size(); ++i) {
      const KvTierBinding& b = bound[i];
      serving::KvBlockStore& store = b.shared ? *b.shared : *store_;
      const serving::KvTierIndex index = b.shared ? serving::kDeviceTier : b.index;
      if (store.capacity(index) < 1)
        requests_[i].where.fail_key("capacity", requests_[i].where.child("capacity").scalar(),
                                    fmt::format("expected room for at least one KV block ({:.3g} MB per device)",
                                                bytes_per_token_ * static_cast<double>(block_size_) / 1e6));
      // A shared store is set up by the first replica bound to it (all share this config).
      if (!b.shared || store.eviction(index) != policies_[i].first || store.ttl(index) != policies_[i].second)
        store.set_policy(index, policies_[i].first, policies_[i].second);
      places_.push_back({&store, index, b.index, b.block_load_seconds, requests_[i].chunk_tokens});
      stats_.push_back(KvTierStats{.name = b.name, .shared = b.shared != nullptr, .capacity_blocks = store.capacity(index)});
      if (b.shared && std::find(shared_.begin(), shared_.end(), b.shared) == shared_.end()) shared_.push_back(b.shared);
    }
  }

  void advance(double now) override {
    store_->advance(now);
    for (serving::KvBlockStore* s : shared_) s->advance(now);
  }

  std::vector<const serving::KvBlockStore*> stores() const override {
    std::vector<const serving::KvBlockStore*> all{store_.get()};
    all.insert(all.end(), shared_.begin(), shared_.end());
    return all;
  }

  PrefixHit lookup(Sequence& seq) override {
    if (places_.size() == 1) return block_hashes::match(*store_, seq, block_size_);
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
    if (places_.size() > 1) make_room(0, extra_blocks(seq, tokens));
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
      for (std::size_t k = 0; k < through_.size(); ++k)
        if (through_[k] && !holds(k + 1, h)) copy_down(k + 1, h, true, 0);
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
    // A tier that stores contiguous chunks (LMCache's layout: all layers of chunk_tokens tokens in
    // one buffer) is read and written a chunk per request; otherwise a block is one piece per layer, K and V apart.
    const serving::KvTierIndex lower = t.to == serving::kDeviceTier ? t.from : t.to;
    for (const Place& p : places_)
      if (p.chunk_tokens > 0 && p.transfer == lower && lower != serving::kDeviceTier) {
        const auto chunks = static_cast<double>((t.tokens + p.chunk_tokens - 1) / p.chunk_tokens);
        return {.request_size = bytes_per_token_ * static_cast<double>(p.chunk_tokens), .overhead = setup_ + chunks * per_piece_};
      }
    const double pieces = static_cast<double>(t.blocks * pieces_per_block_);
    return {.request_size = bytes_per_token_ * static_cast<double>(block_size_) / static_cast<double>(pieces_per_block_),
            .overhead = setup_ + pieces * per_piece_};
  }

  std::vector<KvTierStats> tier_stats() const override {
    std::vector<KvTierStats> out = stats_;
    for (std::size_t level = 0; level < out.size() && level < places_.size(); ++level) {
      const Place& p = places_[level];
      out[level].expired_blocks = p.store->expired(p.index);
      out[level].used_blocks = p.store->used(p.index);
      out[level].cached_blocks = p.store->cached(p.index);
    }
    return out;
  }

 protected:
  /// Where level `l` of the hierarchy keeps its blocks: level 0 is device memory, level k + 1 the
  /// k-th offload tier (in the replica's own store, or a store shared by the replicas).
  struct Place {
    serving::KvBlockStore* store = nullptr;
    serving::KvTierIndex index = serving::kDeviceTier;     ///< the tier in `store`
    serving::KvTierIndex transfer = serving::kDeviceTier;  ///< the tier of the own store naming its copies
    double block_load_seconds = 0;  ///< one block into device memory, alone on the route
    std::int64_t chunk_tokens = 0;  ///< stored as contiguous chunks of this many tokens (0: blocks, in per-layer pieces)
  };

  bool holds(std::size_t level, std::uint64_t h) const { return places_[level].store->find(h, places_[level].index) >= 0; }

  /// The longest cached prefix over all tiers; `where` (if given) receives, per block, the level
  /// holding it (0 = device). With load: when_faster, stops before the first lower-tier block if
  /// loading what follows would take longer than computing it.
  PrefixHit match_tiers(Sequence& seq, std::vector<std::size_t>* where) {
    block_hashes::compute(seq, block_size_);
    const auto limit = std::min(static_cast<std::int64_t>(seq.block_hashes.size()), (seq.known() - 1) / block_size_);
    PrefixHit hit, device_only;
    double load = 0;
    bool device_run = true;  // no lower-tier block so far
    if (where) where->clear();
    for (std::int64_t i = 0; i < limit; ++i) {
      const std::uint64_t h = seq.block_hashes[static_cast<std::size_t>(i)];
      std::size_t found = 0;  // level + 1
      if (const serving::BlockId b = store_->find(h); b >= 0) {
        found = 1;
        if (store_->block(b).refcount > 0) ++hit.held_blocks;
      } else {
        for (std::size_t level = 1; level < places_.size() && !found; ++level)
          if (holds(level, h)) found = level + 1;
        if (!found) break;
        if (device_run) device_only = hit;
        device_run = false;
        hit.loaded_tokens += block_size_;
        load += block_load(found - 1);
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

  /// One block from level `level` into device memory, alone on the route, with its per-piece cost.
  double block_load(std::size_t level) const {
    const Place& p = places_[level];
    const double pieces = p.chunk_tokens > 0 ? static_cast<double>(block_size_) / static_cast<double>(p.chunk_tokens)
                                             : static_cast<double>(pieces_per_block_);
    return p.block_load_seconds + pieces * per_piece_;
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
      const Place& p = places_[where[i]];
      const serving::BlockId b = p.store->acquire_cached(seq.block_hashes[i], p.index);
      (where[i] == 0 ? seq.blocks[i] : pinned[i]) = b;
    }
    make_room(0, static_cast<std::int64_t>(hit.loaded_tokens / block_size_));
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t level = where[i];
      if (level == 0) continue;
      const Place& p = places_[level];
      seq.blocks[i] = store_->allocate();
      store_->set_hash(seq.blocks[i], seq.block_hashes[i]);
      store_->record_transfer(p.transfer, serving::kDeviceTier, block_size_, 1, false, layerwise_);
      p.store->release(pinned[i]);  // stays cached there, now the most recently used
      KvTierStats& s = stats_[level];
      s.hit_tokens += block_size_;
      s.load_seconds += block_load(level);
      s.recompute_seconds += prefill_seconds_per_token_ * static_cast<double>(block_size_);
    }
    stats_[0].hit_tokens += hit.tokens - hit.loaded_tokens;
    block_hashes::admitted(seq, hit, block_size_, prefix_counts_);
  }

  /// Frees `blocks` empty slots at level `level`: its next victims (by the tier's eviction order)
  /// are dropped, each first copied one level down if it is not there yet.
  void make_room(std::size_t level, std::int64_t blocks) {
    const Place& p = places_[level];
    while (p.store->empty_slots(p.index) < blocks) {
      const serving::BlockId victim = p.store->next_victim(p.index);
      if (victim < 0) return;  // all referenced: allocate() reports a real overflow
      const std::uint64_t h = p.store->block(victim).hash;
      // Down from device memory the copy must land before the slot is reused; between lower
      // tiers it runs in the background.
      if (level + 1 < places_.size() && !holds(level + 1, h)) copy_down(level + 1, h, level != 0);
      p.store->drop_cached(victim);
      ++stats_[level].evicted_blocks;
    }
  }

  /// Copies the block with hash `h` from level `from` (default: `level - 1`) into level `level` as a cached block;
  /// `overlap`: the copy may run while the step computes (its source slot is not reused by it).
  void copy_down(std::size_t level, std::uint64_t h, bool overlap, std::optional<std::size_t> from = std::nullopt) {
    const Place& to = places_[level];
    make_room(level, 1);
    if (to.store->empty_slots(to.index) < 1) return;  // every slot held by loads in flight: not kept
    const serving::BlockId b = to.store->allocate(to.index);
    to.store->set_hash(b, h);
    to.store->release(b);
    store_->record_transfer(places_[from.value_or(level - 1)].transfer, to.transfer, block_size_, 1, overlap);
    stats_[level].written_tokens += block_size_;
  }

  std::vector<KvTierRequest> requests_;
  std::vector<std::pair<serving::Eviction, double>> policies_;  ///< per request: eviction order, TTL
  std::vector<Place> places_;  ///< device memory, then the offload tiers fastest first
  std::vector<serving::KvBlockStore*> shared_;  ///< distinct shared stores among them
  std::vector<KvTierStats> stats_;
  std::vector<int> through_;  ///< per offload tier: 1 = written through from device memory, 0 = on eviction
  bool load_when_faster_ = false, layerwise_ = false;
  double setup_ = 0, per_piece_ = 0;
  double device_ttl_ = std::numeric_limits<double>::infinity();
  std::int64_t pieces_per_block_ = 0;  ///< 0 until size(): 2 x layers unless given
  double bytes_per_token_ = 0;
  std::vector<std::size_t> scratch_where_;
  std::vector<serving::BlockId> scratch_pinned_;
};


}  // namespace hetsim::policies
